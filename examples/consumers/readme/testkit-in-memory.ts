import { GatewayClient } from "@diminuendo/client"
import { Gateway, InMemory } from "@diminuendo/testkit"
import { Effect, Layer, Stream } from "effect"

// A client and a gateway in one layer, without sockets: what a test of your app provides
// (`it.layer(TestLayer)(...)` with @effect/vitest, or Effect.provide).
const TestLayer = GatewayClient.layer({ url: "memory://" }).pipe(Layer.provideMerge(InMemory.layer({ agentStepMs: 0 })))

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const gateway = yield* Gateway.Gateway
  const session = yield* client.createSession("echo")
  const received = yield* client.turn(session.id, "ping").pipe(Stream.runCollect)
  const logged = yield* gateway.sessionLog(session.id) // what the gateway sent, to compare with
  console.log(`${received.length} events received, ${logged.length} logged`)
})

program.pipe(Effect.provide(TestLayer), Effect.runPromise)

import { Gateway, InMemory } from "@diminuendo/testkit"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as GatewayClient from "../src/GatewayClient.js"

// The testkit README's example, as written there.
const TestLayer = GatewayClient.layer({ url: "memory://" }).pipe(Layer.provideMerge(InMemory.layer({ agentStepMs: 0 })))

describe("GatewayClient.layer with the in-memory testkit", () => {
  layer(TestLayer)((it) => {
    it.effect("a client and its gateway, from one layer", () =>
      Effect.gen(function* () {
        const client = yield* GatewayClient.GatewayClient
        const gateway = yield* Gateway.Gateway
        const session = yield* client.createSession("echo", "from a layer")
        const started = yield* client.runTurn(session.id, "hello")
        assert.strictEqual(started.sessionId, session.id)
        assert.strictEqual((yield* gateway.connections).length, 1)
      })
    )
  })
})

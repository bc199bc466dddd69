import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Gateway, InMemory, WsServer } from "@diminuendo/testkit"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const prog = Effect.gen(function* () {
  const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
  const server = yield* WsServer.serve(gateway)
  const ws = yield* GatewayClient.make({ url: server.url, pingInterval: 0 }).pipe(Effect.provide(NodeTransport.layer))
  const mem = yield* GatewayClient.make({ url: "x", pingInterval: 0 }).pipe(
    Effect.provide(InMemory.layerTransport),
    Effect.provideService(Gateway.Gateway, gateway)
  )
  for (const [name, c] of [
    ["ws", ws],
    ["mem", mem]
  ] as const) {
    for (let k = 0; k < 200; k++) yield* c.ping
    const xs: number[] = []
    for (let k = 0; k < 1000; k++) {
      const t = performance.now()
      yield* c.ping
      xs.push((performance.now() - t) * 1000)
    }
    xs.sort((a, b) => a - b)
    console.log(name, "p50", xs[500]!.toFixed(0), "p99", xs[990]!.toFixed(0))
  }
})
await Effect.runPromise(Effect.scoped(prog).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))

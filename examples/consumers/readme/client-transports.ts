import { GatewayClient, WebSocketTransport } from "@diminuendo/client"
import { NodeSocket } from "@effect/platform-node"
import { Effect, Layer, Logger, LogLevel } from "effect"

const url = process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787"

// The standard-WebSocket transport on Node 20, which has no global WebSocket: @effect/platform-node
// supplies the constructor. In browsers, Bun, Deno and Node 22+, WebSocketTransport.layerGlobal needs nothing.
const Transport = WebSocketTransport.layer.pipe(Layer.provide(NodeSocket.layerWebSocketConstructor))

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const sessions = yield* client.listSessions()
  console.log(`${sessions.length} session(s)`)
})

program.pipe(
  Effect.provide(GatewayClient.layer({ url }).pipe(Layer.provide(Transport))),
  // The client logs through Effect's Logger: keep its warnings (a lost connection), drop the rest.
  Logger.withMinimumLogLevel(LogLevel.Warning),
  Effect.runPromise
)

import { GatewayClient, WebSocketTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

// In a page: ?gateway=ws://... picks the gateway.
const url = new URLSearchParams(location.search).get("gateway") ?? "ws://127.0.0.1:8787"
const output = document.body.appendChild(document.createElement("output"))

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const session = yield* client.createSession("echo")
  yield* client.turn(session.id, "Hello from the browser").pipe(
    Stream.runForEach((item) =>
      Effect.sync(() => {
        if (item.type === "text_delta") output.textContent += item.text
      })
    )
  )
})

// The browser's own WebSocket.
Effect.runPromise(program.pipe(Effect.provide(WebSocketTransport.layerGatewayClient({ url }))))

import * as Socket from "@effect/platform/Socket"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as GatewayClient from "../src/GatewayClient.js"
import * as Transport from "../src/Transport.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"

/** A standard-API socket the test drives by hand. */
class FakeSocket {
  static last: FakeSocket | undefined
  readyState = 0
  readonly closes: Array<[number | undefined, string | undefined]> = []
  private readonly listeners = new Map<string, Array<(event: any) => void>>()
  constructor(readonly url: string) {
    FakeSocket.last = this
  }
  send() {}
  close(code?: number, reason?: string) {
    this.closes.push([code, reason])
  }
  addEventListener(type: string, listener: (event: any) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  emit(type: string, event: unknown) {
    for (const listener of this.listeners.get(type) ?? []) listener(event)
  }
}

const fakeSockets = WebSocketTransport.layer.pipe(
  Layer.provide(
    Layer.succeed(Socket.WebSocketConstructor, (url: string) => new FakeSocket(url) as unknown as globalThis.WebSocket)
  )
)

describe("WebSocketTransport", () => {
  it.scopedLive(
    `a client that holds more than ${WebSocketTransport.inboundBacklogLimit} frames drops the connection with 4008`,
    () =>
      Effect.gen(function* () {
        const transport = yield* Transport.Transport.pipe(Effect.provide(fakeSockets))
        const opening = yield* Effect.fork(transport.open({ url: "ws://fake", maxMessageBytes: 1024 }))
        yield* Effect.yieldNow()
        const socket = FakeSocket.last!
        socket.readyState = 1
        socket.emit("open", {})
        const connection = yield* Fiber.join(opening)
        const seen: Array<string> = []
        // The first frame asks for work that never finishes: later frames are held.
        yield* Effect.fork(
          connection.run((frames) => {
            seen.push(...(frames as ReadonlyArray<string>))
            return Effect.never
          })
        )
        yield* Effect.yieldNow()
        socket.emit("message", { data: "first" })
        for (let i = 0; i < WebSocketTransport.inboundBacklogLimit - 1; i++) socket.emit("message", { data: `${i}` })
        assert.deepStrictEqual(socket.closes, [])
        socket.emit("message", { data: "one too many" })
        assert.deepStrictEqual(socket.closes, [[4008, "client inbound backlog full"]])
        assert.deepStrictEqual(seen, ["first"])
        socket.readyState = 3
        socket.emit("close", { code: 4008, reason: "client inbound backlog full" })
      })
  )
})

describe("WebSocketTransport.layerGlobal without a global WebSocket (Node 20)", () => {
  it.live("connecting fails with ConnectionFailed naming the two ways out", () =>
    Effect.gen(function* () {
      const global = globalThis as { WebSocket?: unknown }
      const saved = global.WebSocket
      delete global.WebSocket
      const error = yield* GatewayClient.make({ url: "ws://127.0.0.1:9/", autoReconnect: false }).pipe(
        Effect.provide(WebSocketTransport.layerGlobal),
        Effect.scoped,
        Effect.flip,
        Effect.ensuring(Effect.sync(() => saved !== undefined && (global.WebSocket = saved)))
      )
      assert.strictEqual(error.reason, "ConnectionFailed")
      assert.include(error.message, "this runtime has no global WebSocket (Node 20)")
      assert.include(error.message, "NodeTransport.layer")
      assert.include(error.message, "NodeSocket.layerWebSocketConstructor")
    })
  )
})

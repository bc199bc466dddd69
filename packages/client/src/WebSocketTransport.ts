/**
 * The {@link Transport.Transport} on a standard `WebSocket`, taken the Effect ecosystem's way: from
 * `@effect/platform`'s `Socket.WebSocketConstructor` service. Provide it with
 * `Socket.layerWebSocketConstructorGlobal` in browsers, Bun, Deno and Node 22+ ({@link layerGlobal}
 * does), `NodeSocket.layerWebSocketConstructor` from `@effect/platform-node` on Node 20, or your own
 * (one that adds headers or a subprotocol).
 *
 * It uses the constructor, not `Socket.fromWebSocket`'s `Socket`: that one's writer waits for the
 * socket to be open again after a close (a request sent to a dropped connection hangs instead of
 * failing), runs each message's Effect as a concurrent fiber (no order, no bound), and reads binary
 * frames through an asynchronous `Blob` read that can overtake later text frames. This transport
 * keeps the client's inbound contract instead ({@link Transport.makeConnection}).
 *
 * The standard API has no `maxPayload`, no headers and no pause: oversized frames are refused by the
 * client's codec instead, and a connection that holds more than {@link inboundBacklogLimit} frames
 * (only while the client runs an Effect a frame asked for) is dropped with close code 4008
 * (`CloseCode.InboundBacklogFull`); the client then reconnects and resumes from the last event.
 *
 * @since 0.1.0
 */
import { CloseCode } from "@diminuendo/protocol"
import * as Socket from "@effect/platform/Socket"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Sockets from "./internal/socket.js"
import * as Transport from "./Transport.js"

/**
 * Frames held (before the client reads, or while it runs an Effect a frame asked for) before the
 * connection is dropped with close code 4008: the WebSocket API cannot pause a socket. The client
 * reconnects and resumes its sessions from the last event it delivered.
 *
 * @since 0.1.0
 * @category constants
 */
export const inboundBacklogLimit = 16_384

const openFailed = (url: string, cause?: unknown) =>
  new Transport.TransportError({
    reason: "OpenFailed",
    message:
      cause === undefined
        ? `cannot connect to ${url}`
        : typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined" && cause instanceof Error
          ? `cannot connect to ${url}: this runtime has no global WebSocket (Node 20); use NodeTransport.layer, or provide NodeSocket.layerWebSocketConstructor from @effect/platform-node (${cause.message})`
          : `cannot connect to ${url}: ${String(cause)}`,
    ...(cause === undefined ? {} : { cause })
  })

const open = (construct: Context.Tag.Service<typeof Socket.WebSocketConstructor>) => (request: Transport.OpenRequest) =>
  Effect.gen(function* () {
    const closed = yield* Deferred.make<Transport.CloseInfo>()
    let ws: globalThis.WebSocket | undefined
    const driver = Transport.makeConnection({
      send: Sockets.send(() => ws),
      sendNow: Sockets.sendNow(() => ws),
      close: (code, reason) =>
        Effect.sync(() => {
          if (ws?.readyState === Sockets.OPEN) ws.close(code, reason)
        }),
      maxHeldFrames: inboundBacklogLimit,
      // The WebSocket API cannot pause a socket: a client this far behind drops the connection,
      // and the reconnect resumes its sessions from the last event it delivered.
      onFull: () => ws?.close(CloseCode.InboundBacklogFull, "client inbound backlog full"),
      onDrained: () => {}
    })
    yield* Sockets.acquireRelease(
      // Interruptible: a timeout around `open` must be able to abandon a handshake that never ends.
      Effect.interruptible(
        Effect.async<globalThis.WebSocket, Transport.TransportError>((resume) => {
          const settle = Sockets.once(resume)
          let socket: globalThis.WebSocket
          try {
            socket = ws = construct(request.url)
          } catch (cause) {
            settle(Effect.fail(openFailed(request.url, cause)))
            return
          }
          socket.binaryType = "arraybuffer"
          socket.addEventListener("open", () => settle(Effect.succeed(socket)))
          socket.addEventListener("error", () => settle(Effect.fail(openFailed(request.url))))
          socket.addEventListener("message", (event: MessageEvent) =>
            driver.receive(
              typeof event.data === "string"
                ? event.data
                : event.data instanceof ArrayBuffer
                  ? new Uint8Array(event.data)
                  : new Uint8Array(0)
            )
          )
          socket.addEventListener("close", (event: { readonly code: number; readonly reason?: string }) => {
            const info = { code: event.code, reason: event.reason ?? "" }
            driver.closed(info)
            Deferred.unsafeDone(closed, Effect.succeed(info))
            settle(Effect.fail(Sockets.closedDuringHandshake(request.url, event.code)))
          })
          return Effect.sync(() => socket.close())
        })
      ),
      (ws) =>
        Effect.suspend(() => {
          if (ws.readyState === Sockets.CLOSED) return Effect.void
          if (ws.readyState === Sockets.OPEN) ws.close(CloseCode.Normal, "client closed")
          return Deferred.await(closed).pipe(Effect.timeout("1 second"), Effect.ignore)
        })
    )
    return driver.connection
  })

/**
 * A transport on the `Socket.WebSocketConstructor` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport, never, Socket.WebSocketConstructor> = Layer.effect(
  Transport.Transport,
  Effect.map(Socket.WebSocketConstructor, (construct) => ({ open: open(construct) }))
)

/**
 * A transport on the runtime's global `WebSocket` (browsers, Bun, Deno, Node 22+).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerGlobal: Layer.Layer<Transport.Transport> = layer.pipe(
  Layer.provide(Socket.layerWebSocketConstructorGlobal)
)

/**
 * {@link GatewayClient.layer} over this transport, on the global `WebSocket`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGatewayClient = (
  options: GatewayClient.GatewayClientOptions
): Layer.Layer<GatewayClient.GatewayClient, GatewayError> =>
  GatewayClient.layer(options).pipe(Layer.provide(layerGlobal))

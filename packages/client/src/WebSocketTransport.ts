/**
 * The {@link Transport.Transport} for runtimes with a standard `WebSocket` (browsers, Bun, Deno,
 * Node 22+). The standard API has no `maxPayload`, no headers and no pause: oversized frames are
 * refused by the client's codec instead, and a connection that holds more than
 * {@link inboundBacklogLimit} frames (only while the client runs an Effect a frame asked for) is
 * dropped with close code 4008; the client then reconnects and resumes from the last event.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Inbound from "./internal/inbound.js"
import * as Transport from "./Transport.js"

/**
 * The part of the standard `WebSocket` this transport uses.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: "open" | "close" | "error" | "message", listener: (event: any) => void): void
}

/**
 * @since 0.1.0
 * @category models
 */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/**
 * Frames held (before the client reads, or while it runs an Effect a frame asked for) before the
 * connection is dropped with close code 4008: the WebSocket API cannot pause a socket. The client
 * reconnects and resumes its sessions from the last event it delivered.
 *
 * @since 0.1.0
 * @category constants
 */
export const inboundBacklogLimit = 16_384

const OPEN = 1
const CLOSED = 3

const open = (construct: WebSocketConstructor) => (request: Transport.OpenRequest) =>
  Effect.gen(function* () {
    const closed = yield* Deferred.make<Transport.CloseInfo>()
    let ws: WebSocketLike | undefined
    const inbound = Inbound.make({
      highWaterMark: inboundBacklogLimit,
      // The WebSocket API cannot pause a socket: a client this far behind drops the connection,
      // and the reconnect resumes its sessions from the last event it delivered.
      onFull: () => ws?.close(4008, "client inbound backlog full"),
      onDrained: () => {}
    })
    const socket = yield* Effect.acquireRelease(
      Effect.async<WebSocketLike, Transport.TransportError>((resume) => {
        let settled = false
        const settle = (effect: Effect.Effect<WebSocketLike, Transport.TransportError>) => {
          if (!settled) {
            settled = true
            resume(effect)
          }
        }
        let socket: WebSocketLike
        try {
          socket = ws = new construct(request.url)
        } catch (cause) {
          settle(
            Effect.fail(
              new Transport.TransportError({
                reason: "OpenFailed",
                message: `cannot connect to ${request.url}: ${String(cause)}`,
                cause
              })
            )
          )
          return
        }
        socket.addEventListener("open", () => settle(Effect.succeed(socket)))
        socket.addEventListener("error", () =>
          settle(
            Effect.fail(
              new Transport.TransportError({ reason: "OpenFailed", message: `cannot connect to ${request.url}` })
            )
          )
        )
        socket.addEventListener("message", (event: { data: unknown }) =>
          inbound.frame(typeof event.data === "string" ? event.data : "\u0000binary frame")
        )
        socket.addEventListener("close", (event: { code: number; reason: string }) => {
          const info = { code: event.code, reason: event.reason ?? "" }
          inbound.close(info)
          Deferred.unsafeDone(closed, Effect.succeed(info))
          settle(Effect.fail(Inbound.closedDuringHandshake(request.url, event.code)))
        })
        return Effect.sync(() => socket.close())
      }),
      (ws) =>
        Effect.suspend(() => {
          if (ws.readyState === CLOSED) return Effect.void
          if (ws.readyState === OPEN) ws.close(1000, "client closed")
          return Deferred.await(closed).pipe(Effect.timeout("1 second"), Effect.ignore)
        })
    )
    const connection: Transport.Connection = {
      send: Inbound.send(socket),
      run: inbound.run,
      close: (code, reason) =>
        Effect.sync(() => {
          if (socket.readyState === OPEN) socket.close(code, reason)
        })
    }
    return connection
  })

/**
 * A transport on a `WebSocket` constructor, the global one by default.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  construct: WebSocketConstructor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket!
): Layer.Layer<Transport.Transport> => Layer.succeed(Transport.Transport, { open: open(construct) })

/**
 * {@link GatewayClient.layer} over this transport.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGatewayClient = (
  options: GatewayClient.GatewayClientOptions,
  construct?: WebSocketConstructor
): Layer.Layer<GatewayClient.GatewayClient, GatewayError> =>
  GatewayClient.layer(options).pipe(Layer.provide(layer(construct)))

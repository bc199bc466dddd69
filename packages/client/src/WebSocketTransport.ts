/**
 * The {@link Transport.Transport} for runtimes with a standard `WebSocket` (browsers, Bun, Deno,
 * Node 22+). The standard API has no `maxPayload`, no headers and no pause: oversized frames are
 * refused by the client's codec instead, and inbound frames are buffered without a bound beyond
 * the client's own event buffers.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
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

const OPEN = 1
const CLOSED = 3

const open = (construct: WebSocketConstructor) => (request: Transport.OpenRequest) =>
  Effect.gen(function* () {
    const inbound = yield* Queue.unbounded<Inbound.Item>()
    const closed = yield* Deferred.make<Transport.CloseInfo>()
    const socket = yield* Effect.acquireRelease(
      Effect.async<WebSocketLike, Transport.TransportError>((resume) => {
        let settled = false
        const settle = (effect: Effect.Effect<WebSocketLike, Transport.TransportError>) => {
          if (!settled) {
            settled = true
            resume(effect)
          }
        }
        let ws: WebSocketLike
        try {
          ws = new construct(request.url)
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
        ws.addEventListener("open", () => settle(Effect.succeed(ws)))
        ws.addEventListener("error", () =>
          settle(
            Effect.fail(
              new Transport.TransportError({ reason: "OpenFailed", message: `cannot connect to ${request.url}` })
            )
          )
        )
        ws.addEventListener("message", (event: { data: unknown }) => {
          inbound.unsafeOffer(typeof event.data === "string" ? event.data : "\u0000binary frame")
        })
        ws.addEventListener("close", (event: { code: number; reason: string }) => {
          settle(
            Effect.fail(Inbound.onClose(inbound, closed, request.url, { code: event.code, reason: event.reason ?? "" }))
          )
        })
        return Effect.sync(() => ws.close())
      }),
      (ws) =>
        Effect.suspend(() => {
          if (ws.readyState === CLOSED) return Effect.void
          if (ws.readyState === OPEN) ws.close(1000, "client closed")
          return Deferred.await(closed).pipe(Effect.timeout("1 second"), Effect.ignore)
        })
    )
    const connection: Transport.Connection = {
      send: (frame) =>
        Effect.suspend(() => {
          if (socket.readyState !== OPEN) {
            return Effect.fail(new Transport.TransportError({ reason: "Closed", message: "the socket is not open" }))
          }
          socket.send(frame)
          return Effect.void
        }),
      run: (onFrames) => Inbound.run(inbound, onFrames),
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

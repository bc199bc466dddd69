/**
 * The {@link Transport.Transport} for Node, on the `ws` library: close codes and reasons, the HTTP
 * status of a refused upgrade, `maxPayload`, and backpressure (the socket is paused while the
 * client's inbound buffer is full).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import WebSocket from "ws"
import * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Inbound from "./internal/inbound.js"
import * as Transport from "./Transport.js"

/**
 * Frames buffered from the socket before it is paused.
 *
 * @since 0.1.0
 * @category constants
 */
export const inboundHighWaterMark = 256

const open = (request: Transport.OpenRequest) =>
  Effect.gen(function* () {
    // Frames, then one close marker: the order in which the socket saw them.
    const inbound = yield* Queue.unbounded<Inbound.Item>()
    const closed = yield* Deferred.make<Transport.CloseInfo>()
    const socket = yield* Effect.acquireRelease(
      Effect.async<WebSocket, Transport.TransportError>((resume) => {
        const ws = new WebSocket(request.url, { maxPayload: request.maxMessageBytes })
        let settled = false
        const settle = (effect: Effect.Effect<WebSocket, Transport.TransportError>) => {
          if (settled) return
          settled = true
          resume(effect)
        }
        ws.on("error", (cause) =>
          settle(
            Effect.fail(
              new Transport.TransportError({
                reason: "OpenFailed",
                message: `cannot connect to ${request.url}: ${cause.message}`,
                cause
              })
            )
          )
        )
        ws.once("unexpected-response", (_req, res) => {
          settle(
            Effect.fail(
              new Transport.TransportError({
                reason: "OpenFailed",
                message: `${request.url} refused the upgrade with HTTP ${res.statusCode}`,
                ...(res.statusCode === undefined ? {} : { status: res.statusCode })
              })
            )
          )
          ws.terminate()
        })
        ws.once("open", () => settle(Effect.succeed(ws)))
        ws.on("message", (data, isBinary) => {
          inbound.unsafeOffer(isBinary ? `\u0000binary frame of ${(data as Buffer).length} bytes` : data.toString())
          if (Option.getOrElse(inbound.unsafeSize(), () => 0) >= inboundHighWaterMark) ws.pause()
        })
        ws.once("close", (code, reason) => {
          settle(Effect.fail(Inbound.onClose(inbound, closed, request.url, { code, reason: reason.toString() })))
        })
        return Effect.sync(() => ws.terminate())
      }),
      (ws) =>
        Effect.async<void>((resume) => {
          if (ws.readyState === WebSocket.CLOSED) return resume(Effect.void)
          const timer = setTimeout(() => {
            ws.terminate()
          }, 1000)
          ws.once("close", () => {
            clearTimeout(timer)
            resume(Effect.void)
          })
          if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)
            ws.close(1000, "client closed")
        })
    )
    const connection: Transport.Connection = {
      // Not waiting for the write callback: a failed write surfaces as the socket's close.
      send: (frame) =>
        Effect.suspend(() => {
          if (socket.readyState !== WebSocket.OPEN) {
            return Effect.fail(new Transport.TransportError({ reason: "Closed", message: "the socket is not open" }))
          }
          socket.send(frame)
          return Effect.void
        }),
      run: (onFrames) =>
        Inbound.run(inbound, onFrames, () => {
          if (socket.isPaused && Option.getOrElse(inbound.unsafeSize(), () => 0) < inboundHighWaterMark / 2) {
            socket.resume()
          }
        }),
      close: (code, reason) =>
        Effect.sync(() => {
          if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)
            socket.close(code, reason)
        })
    }
    return connection
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport> = Layer.succeed(Transport.Transport, { open })

/**
 * {@link GatewayClient.layer} over this transport.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGatewayClient = (
  options: GatewayClient.GatewayClientOptions
): Layer.Layer<GatewayClient.GatewayClient, GatewayError> => GatewayClient.layer(options).pipe(Layer.provide(layer))

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
    const inbound = yield* Queue.unbounded<string>()
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
          if (inbound.unsafeSize().pipe(Option.getOrElse(() => 0)) >= inboundHighWaterMark) ws.pause()
        })
        ws.once("close", (code, reason) => {
          Deferred.unsafeDone(closed, Effect.succeed({ code, reason: reason.toString() }))
          settle(
            Effect.fail(
              new Transport.TransportError({
                reason: "OpenFailed",
                message: `${request.url} closed during the handshake (${code})`
              })
            )
          )
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
      send: (frame) =>
        Effect.async<void, Transport.TransportError>((resume) => {
          if (socket.readyState !== WebSocket.OPEN) {
            return resume(
              Effect.fail(new Transport.TransportError({ reason: "Closed", message: "the socket is not open" }))
            )
          }
          socket.send(frame, (error) =>
            resume(
              error
                ? Effect.fail(
                    new Transport.TransportError({ reason: "WriteFailed", message: error.message, cause: error })
                  )
                : Effect.void
            )
          )
        }),
      run: (onFrame) =>
        Effect.gen(function* () {
          for (;;) {
            const next = yield* Effect.raceFirst(
              Effect.map(Queue.take(inbound), Option.some),
              Effect.as(Deferred.await(closed), Option.none<string>())
            )
            if (Option.isNone(next)) {
              for (const frame of yield* Queue.takeAll(inbound)) yield* onFrame(frame)
              return yield* Deferred.await(closed)
            }
            yield* onFrame(next.value)
            if (socket.isPaused && inbound.unsafeSize().pipe(Option.getOrElse(() => 0)) < inboundHighWaterMark / 2) {
              socket.resume()
            }
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

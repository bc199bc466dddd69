/**
 * The {@link Transport.Transport} for Node, on the `ws` library: close codes and reasons, the HTTP
 * status of a refused upgrade, `maxPayload`, and backpressure (the socket is paused while the
 * client's inbound buffer is full). A text frame that is not UTF-8 closes the connection with 1007.
 *
 * @since 0.1.0
 */
import { isUtf8 } from "node:buffer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import WebSocket from "ws"
import * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Socket from "./internal/socket.js"
import * as Transport from "./Transport.js"

/**
 * Frames held (before the client reads, or while it runs an Effect a frame asked for) before the
 * socket is paused; it is resumed once they are handed over.
 *
 * @since 0.1.0
 * @category constants
 */
export const inboundHighWaterMark = 256

/**
 * A text frame's payload as a string, or `undefined` when it is not valid UTF-8. Decoding replaces
 * each invalid sequence with U+FFFD, so a string without one came from valid UTF-8 and needs no
 * second pass over the bytes (the check `ws` would otherwise make on every frame); only a frame
 * whose text holds U+FFFD is checked.
 */
const textOf = (data: Buffer): string | undefined => {
  const text = data.toString()
  return text.indexOf("\uFFFD") === -1 || isUtf8(data) ? text : undefined
}

const open = (request: Transport.OpenRequest) =>
  Effect.gen(function* () {
    let ws: WebSocket | undefined
    const driver = Transport.makeConnection({
      send: Socket.send(() => ws),
      sendNow: Socket.sendNow(() => ws),
      close: (code, reason) =>
        Effect.sync(() => {
          if (ws !== undefined && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING))
            ws.close(code, reason)
        }),
      maxHeldFrames: inboundHighWaterMark,
      onFull: () => ws?.pause(),
      onDrained: () => ws?.resume()
    })
    yield* Socket.acquireRelease(
      // Interruptible: a timeout around `open` must be able to abandon a handshake that never ends.
      Effect.interruptible(
        Effect.async<WebSocket, Transport.TransportError>((resume) => {
          const socket = new WebSocket(request.url, {
            maxPayload: request.maxMessageBytes,
            // Text frames are checked as they are decoded (`textOf`).
            skipUTF8Validation: true,
            ...(request.openTimeoutMs === undefined ? {} : { handshakeTimeout: request.openTimeoutMs })
          })
          ws = socket
          const settle = Socket.once(resume)
          socket.on("error", (cause) =>
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
          socket.once("unexpected-response", (_req, res) => {
            settle(
              Effect.fail(
                new Transport.TransportError({
                  reason: "OpenFailed",
                  message: `${request.url} refused the upgrade with HTTP ${res.statusCode}`,
                  ...(res.statusCode === undefined ? {} : { status: res.statusCode })
                })
              )
            )
            socket.terminate()
          })
          socket.once("open", () => settle(Effect.succeed(socket)))
          // Set at a text frame that is not UTF-8: nothing after it is read (as `ws` does, RFC 6455 8.1).
          let invalid = false
          socket.on("message", (data, isBinary) => {
            if (invalid) return
            if (isBinary) return driver.receive(new Uint8Array(data as Buffer))
            const text = textOf(data as Buffer)
            if (text !== undefined) return driver.receive(text)
            invalid = true
            socket.close(1007, "invalid UTF-8 in a text frame")
          })
          socket.once("close", (code, reason) => {
            driver.closed({ code, reason: reason.toString() })
            settle(Effect.fail(Socket.closedDuringHandshake(request.url, code)))
          })
          return Effect.sync(() => socket.terminate())
        })
      ),
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
    return driver.connection
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

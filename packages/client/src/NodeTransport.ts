/**
 * The {@link Transport.Transport} for Node, on Node's own sockets (RFC 6455's client side, without
 * extensions): close codes and reasons, the HTTP status of a refused upgrade, `maxPayload`, and
 * backpressure (the socket is paused while the client's inbound buffer is full). A protocol
 * violation closes the connection with its code (1002; 1007 for text that is not UTF-8; 1009 past
 * `maxPayload`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Socket from "./internal/socket.js"
import * as WebSocketClient from "./internal/webSocketClient.js"
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
 * How many of the largest messages (`maxMessageBytes`) may wait unsent, the gateway taking none of
 * them, before the connection is dropped (and made again).
 *
 * @since 0.3.0
 * @category constants
 */
export const outboundBufferMessages = 4

const open = (request: Transport.OpenRequest) =>
  Effect.gen(function* () {
    let ws: WebSocketClient.WebSocketClient | undefined
    /** Called once the socket is closed (the release waits for it). */
    let whenClosed: (() => void) | undefined
    const driver = Transport.makeConnection({
      send: Socket.send(() => ws),
      sendNow: Socket.sendNow(() => ws),
      close: (code, reason) => Effect.sync(() => ws?.close(code, reason)),
      maxHeldFrames: inboundHighWaterMark,
      onFull: () => ws?.pause(),
      onDrained: () => ws?.resume()
    })
    yield* Socket.acquireRelease(
      // Interruptible: a timeout around `open` must be able to abandon a handshake that never ends.
      Effect.interruptible(
        Effect.async<WebSocketClient.WebSocketClient, Transport.TransportError>((resume) => {
          const settle = Socket.once(resume)
          const socket = WebSocketClient.connect(
            {
              url: request.url,
              maxPayload: request.maxMessageBytes,
              maxBufferedBytes: outboundBufferMessages * request.maxMessageBytes,
              handshakeTimeoutMs: request.openTimeoutMs
            },
            {
              onOpenFailed: (message, status, cause) =>
                settle(
                  Effect.fail(
                    new Transport.TransportError({
                      reason: "OpenFailed",
                      message:
                        status === undefined
                          ? `cannot connect to ${request.url}: ${message}`
                          : `${request.url} ${message}`,
                      ...(status === undefined ? {} : { status }),
                      ...(cause === undefined ? {} : { cause })
                    })
                  )
                ),
              onOpen: () => settle(Effect.succeed(socket)),
              onMessage: driver.receive,
              onClose: (code, reason) => {
                driver.closed({ code, reason })
                whenClosed?.()
              }
            }
          )
          ws = socket
          return Effect.sync(() => socket.terminate())
        })
      ),
      (ws) =>
        Effect.async<void>((resume) => {
          if (ws.readyState === WebSocketClient.CLOSED) return resume(Effect.void)
          const timer = setTimeout(() => ws.terminate(), 1000)
          whenClosed = () => {
            clearTimeout(timer)
            resume(Effect.void)
          }
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

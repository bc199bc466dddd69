/**
 * The client's `NodeTransport` as it was before it had its own WebSocket (`git show
 * dba00cb:packages/client/src/NodeTransport.ts`): on the `ws` library. Kept for the benchmarks that
 * compare the two (bench/transport-latency.ts).
 */

import { Transport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import WebSocket from "ws"
// Internal (not exported by the package): the built module itself.
import * as Socket from "../packages/client/dist/internal/socket.js"

const inboundHighWaterMark = 256

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
          socket.on("message", (data, isBinary) =>
            driver.receive(isBinary ? new Uint8Array(data as Buffer) : (data as Buffer).toString())
          )
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

export const layer: Layer.Layer<Transport.Transport> = Layer.succeed(Transport.Transport, { open })

/**
 * Serves a testkit {@link Gateway} over a real WebSocket server, scoped: closing the scope closes
 * every connection and the port. Built on `@effect/platform-node`'s `NodeSocketServer` (its server
 * lifecycle and one fiber per connection in a `FiberSet`); each connection's frames go through the
 * raw `ws` socket it provides, for what the platform `Socket` does not expose: close codes on
 * `write`, `bufferedAmount`, and terminating a peer.
 *
 * @since 0.1.0
 */

import * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { WebSocket } from "ws"
import * as Gateway from "./Gateway.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface WsServerOptions {
  /** @default "127.0.0.1" */
  readonly host?: string
  /** @default 0 (a free port) */
  readonly port?: number
  /** Frames over this many bytes close the connection with 1009. @default the gateway's maxFrameBytes */
  readonly maxPayload?: number
  /**
   * Bytes of received frames waiting for the gateway, per connection, past which the socket is
   * paused until half of them are handled. @default 1 MiB (at least one frame is always taken)
   */
  readonly inboundBufferBytes?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WsServer {
  /** `ws://host:port` */
  readonly url: string
  readonly port: number
  /** Connections currently open. */
  readonly connectionCount: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const WsServer = Context.GenericTag<WsServer>("@diminuendo/testkit/WsServer")

/**
 * @since 0.1.0
 * @category errors
 */
export class WsServerError extends Data.TaggedError("WsServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const OPEN = 1

/** A peer that does not complete a close handshake within this is cut (it may not be reading at all). */
const closeGraceMs = 1000

/**
 * One connection: frames in order to the gateway, the gateway's writes to the socket. Frames wait
 * for the gateway in a queue bounded in bytes: past `inboundBytes` the socket is paused (TCP
 * backpressure reaches the client), and resumed once half of it is handed over. Between frames the
 * reader yields, so one connection's flood cannot starve the others.
 */
const serveConnection =
  (gateway: Gateway.Gateway, sockets: Set<WebSocket>, inboundBytes: number) => (socket: Socket.Socket) =>
    Effect.gen(function* () {
      const ws = (yield* Socket.WebSocket) as unknown as WebSocket
      // `ws` emits "error" (a frame over maxPayload, a broken pipe) before closing: handled by the close.
      ws.on("error", () => {})
      sockets.add(ws)
      yield* Effect.addFinalizer(() => Effect.sync(() => sockets.delete(ws)))
      const inbound = yield* Queue.unbounded<Gateway.Frame>()
      let held = 0
      let paused = false
      const peer: Gateway.Peer = {
        write: (frame) =>
          Effect.sync(() => {
            if (ws.readyState === OPEN) ws.send(frame)
          }),
        close: (code, reason) =>
          Effect.sync(() => {
            if (code === undefined) return ws.terminate()
            ws.close(code, reason)
            setTimeout(() => ws.terminate(), closeGraceMs).unref()
          }),
        buffered: () => ws.bufferedAmount
      }
      const accepted = yield* gateway.accept(peer)
      const size = (frame: Gateway.Frame) => (typeof frame === "string" ? frame.length : frame.byteLength)
      const next = Effect.flatMap(Queue.take(inbound), (frame) => {
        held -= size(frame)
        if (paused && held <= inboundBytes / 2) {
          paused = false
          ws.resume()
        }
        return Effect.zipRight(accepted.receive(frame), Effect.yieldNow())
      })
      yield* Effect.forkScoped(Effect.forever(next))
      yield* socket.runRaw((frame) => {
        inbound.unsafeOffer(frame)
        held += size(frame)
        if (!paused && held > inboundBytes) {
          paused = true
          ws.pause()
        }
      })
    }).pipe(Effect.scoped, Effect.ignore)

/**
 * Starts a server on `host:port` (a free port by default) and returns its URL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (
  gateway: Gateway.Gateway,
  options: WsServerOptions = {}
): Effect.Effect<WsServer, WsServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? "127.0.0.1"
    const server = yield* NodeSocketServer.makeWebSocket({
      host,
      port: options.port ?? 0,
      maxPayload: options.maxPayload ?? gateway.options.maxFrameBytes
    }).pipe(
      Effect.mapError(
        (cause: SocketServer.SocketServerError) =>
          new WsServerError({ message: `cannot listen on ${host}:${options.port ?? 0}: ${String(cause.cause)}`, cause })
      )
    )
    const sockets = new Set<WebSocket>()
    // NodeSocketServer provides each connection's raw socket as `Socket.WebSocket` to its handler.
    const handler = serveConnection(gateway, sockets, options.inboundBufferBytes ?? 1024 * 1024) as (
      socket: Socket.Socket
    ) => Effect.Effect<void>
    yield* Effect.forkScoped(server.run(handler))
    // Closing the scope cuts every connection first (finalizers run last in, first out): the
    // connections' own close would wait out `ws`'s 30 s close timeout for a peer that never answers.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const ws of sockets) ws.terminate()
      })
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return {
      url: `ws://${host}:${port}`,
      port,
      connectionCount: Effect.sync(() => sockets.size)
    }
  })

/**
 * A layer serving the {@link Gateway} in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: WsServerOptions = {}): Layer.Layer<WsServer, WsServerError, Gateway.Gateway> =>
  Layer.scoped(
    WsServer,
    Effect.flatMap(Gateway.Gateway, (gateway) => serve(gateway, options))
  )

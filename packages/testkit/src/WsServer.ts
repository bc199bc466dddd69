/**
 * Serves a testkit {@link Gateway} over a real WebSocket server (`ws`), scoped: closing the scope
 * closes every connection and the port.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { type WebSocket, WebSocketServer } from "ws"
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

const serveConnection = (gateway: Gateway.Gateway, socket: WebSocket) =>
  Effect.scoped(
    Effect.gen(function* () {
      const inbound = yield* Queue.unbounded<string>()
      const done = Effect.async<void>((resume) => {
        if (socket.readyState === socket.CLOSED) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      })
      socket.on("message", (data, isBinary) => {
        const frame = isBinary ? `\u0000binary frame of ${(data as Buffer).length} bytes` : data.toString()
        inbound.unsafeOffer(frame)
      })
      const peer: Gateway.Peer = {
        write: (frame) =>
          Effect.sync(() => {
            if (socket.readyState === socket.OPEN) socket.send(frame)
          }),
        close: (code, reason) =>
          Effect.sync(() => {
            if (code === undefined) socket.terminate()
            else socket.close(code, reason)
          })
      }
      const accepted = yield* gateway.accept(peer)
      yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(inbound), accepted.receive)))
      yield* done
    })
  )

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
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const sockets = new Set<WebSocket>()
    const server = yield* Effect.acquireRelease(
      Effect.async<WebSocketServer, WsServerError>((resume) => {
        const wss = new WebSocketServer({
          host: options.host ?? "127.0.0.1",
          port: options.port ?? 0,
          maxPayload: options.maxPayload ?? gateway.options.maxFrameBytes
        })
        wss.once("listening", () => resume(Effect.succeed(wss)))
        wss.once("error", (cause) =>
          resume(Effect.fail(new WsServerError({ message: `cannot listen: ${cause.message}`, cause })))
        )
      }),
      (wss) =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.terminate()
          wss.close(() => resume(Effect.void))
        })
    )
    server.on("error", () => {})
    server.on("connection", (socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.once("close", () => sockets.delete(socket))
      runFork(serveConnection(gateway, socket))
    })
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const host = options.host ?? "127.0.0.1"
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

/**
 * The byte pipe under the client: something that opens a connection to a URL and moves frames both
 * ways. The client never touches a socket directly, so a desktop app can plug in an IPC bridge and
 * tests an in-memory gateway.
 *
 * The inbound contract every connection keeps is implemented once, by {@link makeConnection}: the
 * socket transports, the testkit's in-memory pipe and a user's own transport build on it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

/**
 * The largest batch a connection hands to `run`'s handler at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBatch = 512

/**
 * One frame as received: text (the protocol's frames), or binary (a peer that does not follow the
 * protocol; the client reports it).
 *
 * @since 0.2.0
 * @category models
 */
export type Frame = string | Uint8Array

/**
 * The size of a frame, as counted against byte bounds: a text frame's length in UTF-16 code units
 * (its UTF-8 size for ASCII), a binary frame's byte length.
 *
 * @since 0.2.0
 * @category utils
 */
export const frameSize = (frame: Frame): number => (typeof frame === "string" ? frame.length : frame.byteLength)

/**
 * How a connection ended. `code` is the WebSocket close code; 1006 means it was cut without a close
 * frame (abrupt).
 *
 * @since 0.1.0
 * @category models
 */
export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "OpenFailed" | "OpenTimeout" | "WriteFailed" | "Closed"
  readonly message: string
  readonly status?: number
  readonly cause?: unknown
}> {}

/**
 * Receives a connection's frames. It runs synchronously (on a socket, from the socket's callback,
 * so a reply meets its caller without a hop through another fiber) and returns `undefined`, or an
 * Effect for work that must finish before the next frames are handed over.
 *
 * @since 0.1.0
 * @category models
 */
export type FrameHandler = (frames: ReadonlyArray<Frame>) => Effect.Effect<void> | undefined

/**
 * One open connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** Sends one text frame. Fails with `Closed` once the connection is closed. */
  readonly send: (frame: string) => Effect.Effect<void, TransportError>
  /**
   * Hands incoming frames to `handler`, in order, as they arrive (batched where several are
   * waiting). Frames that arrived before `run` are handed over first. While an Effect the handler
   * returned runs, further frames are held (and the socket paused, where it can be), so
   * backpressure reaches the socket. Completes with how the connection closed, after every frame
   * received before the close was handed over. Call it once per connection.
   */
  readonly run: (handler: FrameHandler) => Effect.Effect<CloseInfo>
  /** Closes with a close code and reason (a clean close). */
  readonly close: (code: number, reason: string) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenRequest {
  readonly url: string
  /** Sent as the `Authorization: Bearer` header where the transport supports headers. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Frames larger than this are refused by the transport (where it supports a limit). */
  readonly maxMessageBytes: number
  /**
   * How long the opening handshake may take, where the transport can bound it itself (the client
   * also times `open` out, which must be interruptible: an open that ignores interruption hangs
   * connecting against a server that accepts TCP and never answers the upgrade).
   */
  readonly openTimeoutMs?: number | undefined
}

/**
 * Opens connections. Closing the scope passed to `open` closes the connection.
 *
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("@diminuendo/client/Transport")<
  Transport,
  {
    readonly open: (request: OpenRequest) => Effect.Effect<Connection, TransportError, Scope.Scope>
  }
>() {}

/**
 * What a transport supplies to {@link makeConnection}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectionOptions {
  readonly send: Connection["send"]
  readonly close: Connection["close"]
  /** Held frames beyond which `onFull` is called. @default 256 */
  readonly maxHeldFrames?: number
  /** Held bytes (by {@link frameSize}) beyond which `onFull` is called. @default 8 MiB */
  readonly maxHeldBytes?: number
  /** Too much is held: pause the socket, or drop the connection where it cannot pause. */
  readonly onFull: () => void
  /** What was held has been handed over: resume the socket. */
  readonly onDrained: () => void
  /**
   * Writes one text frame at once where the socket is open (`false` where it is not). With it, the
   * client sends a request inside the one Effect that waits for its reply, instead of running
   * `send` first: fewer allocations per request. `send` stays the contract.
   *
   * @since 0.3.0
   */
  readonly sendNow?: ((frame: string) => boolean) | undefined
}

/**
 * A connection under construction: the transport feeds it from its socket's callbacks.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectionDriver {
  readonly connection: Connection
  /** One frame from the socket, in order. */
  readonly receive: (frame: Frame) => void
  /** The socket closed: `run` completes after the frames already received. */
  readonly closed: (info: CloseInfo) => void
}

/**
 * Builds a {@link Connection} that keeps the inbound contract. A frame is handed to the handler
 * from the socket's own callback, synchronously, so a reply reaches its caller without waiting for
 * another fiber. Frames are held only before `run` starts and while an Effect returned by the
 * handler runs. Past `maxHeldFrames` frames or `maxHeldBytes` bytes held, `onFull` is called (pause
 * the socket, or drop the connection where it cannot pause); once the backlog is handed over,
 * `onDrained`. A handler that throws is a defect of the reader: `run` dies with it.
 *
 * @since 0.2.0
 * @category constructors
 */
/**
 * What `run` does, without a fiber waiting in it: frames go to the handler from the socket's
 * callback, an Effect it returns is handed to `runWork` (frames are held until `done` is called),
 * and `onClose` is called once, after every frame received before the close was handed over.
 * @internal
 */
export interface Listener {
  readonly runWork: (work: Effect.Effect<void>, done: () => void) => void
  readonly onClose: (info: CloseInfo) => void
}

/** `sendNow` of the connections `makeConnection` built with one, by their `run`, with the `send` it goes with. */
const senders = new WeakMap<
  Connection["run"],
  { readonly send: Connection["send"]; readonly sendNow: (frame: string) => boolean }
>()

/**
 * The synchronous form of `connection.send`, when `makeConnection` built the connection with
 * `sendNow` and its `send` was not replaced.
 * @internal
 */
export const senderOf = (connection: Connection): ((frame: string) => boolean) | undefined => {
  const sender = senders.get(connection.run)
  // A connection whose `send` was replaced sends through it.
  return sender !== undefined && sender.send === connection.send ? sender.sendNow : undefined
}

/** `listen` of the connections `makeConnection` built, by their `run` (a wrapped `run` has none). */
const listeners = new WeakMap<Connection["run"], (handler: FrameHandler, listener: Listener) => void>()

/**
 * The fiberless form of `connection.run`, when `makeConnection` built it and its `run` was not
 * replaced: an idle client then keeps no fiber per connection (bench/ANALYSIS.md).
 * @internal
 */
export const listenerOf = (connection: Connection): ((handler: FrameHandler, listener: Listener) => void) | undefined =>
  listeners.get(connection.run)

export const makeConnection = (options: ConnectionOptions): ConnectionDriver => {
  const maxFrames = options.maxHeldFrames ?? 256
  const maxBytes = options.maxHeldBytes ?? 8 * 1024 * 1024
  let handler: FrameHandler | undefined
  let backlog: Array<Frame> = []
  let heldBytes = 0
  let closed: CloseInfo | undefined
  let full = false
  /** Set while `run` waits with nothing to do; the next frame or the close wakes it. */
  let wake: ((work: Effect.Effect<Effect.Effect<void> | undefined>) => void) | undefined

  const invoke = (h: FrameHandler, frames: ReadonlyArray<Frame>) => {
    try {
      return h(frames)
    } catch (defect) {
      return Effect.die(defect)
    }
  }

  const wakeWith = (work: Effect.Effect<void> | undefined) => {
    const resume = wake!
    wake = undefined
    resume(Effect.succeed(work))
  }

  const hold = (frame: Frame) => {
    backlog.push(frame)
    heldBytes += frameSize(frame)
    if (!full && (backlog.length >= maxFrames || heldBytes >= maxBytes)) {
      full = true
      options.onFull()
    }
  }

  /** Hands the backlog over; returns the first Effect the handler asks to run. */
  const drain = (h: FrameHandler): Effect.Effect<void> | undefined => {
    while (backlog.length > 0) {
      let batch: Array<Frame>
      if (backlog.length <= maxBatch) {
        batch = backlog
        backlog = []
      } else batch = backlog.splice(0, maxBatch)
      for (const frame of batch) heldBytes -= frameSize(frame)
      const work = invoke(h, batch)
      if (work !== undefined) return work
    }
    if (full) {
      full = false
      options.onDrained()
    }
    return undefined
  }

  const run: Connection["run"] = (h) => {
    handler = h
    const loop: Effect.Effect<CloseInfo> = Effect.suspend(() => {
      const work = drain(h)
      if (work !== undefined) return Effect.zipRight(work, loop)
      if (closed !== undefined) return Effect.succeed(closed)
      return Effect.flatMap(
        Effect.async<Effect.Effect<void> | undefined>((resume) => {
          wake = resume
          return Effect.sync(() => {
            wake = undefined
            handler = undefined
          })
        }),
        (next) => (next === undefined ? loop : Effect.zipRight(next, loop))
      )
    })
    return loop
  }

  /** Set by `listen`; `busy` while an Effect the handler returned runs. */
  let listener: Listener | undefined
  let busy = false
  let closeReported = false

  /** Hands the backlog over to a listener, then the close once everything before it is handed over. */
  const pump = (l: Listener, h: FrameHandler) => {
    const work = drain(h)
    if (work !== undefined) return runWork(l, h, work)
    if (closed !== undefined && !closeReported) {
      closeReported = true
      l.onClose(closed)
    }
  }

  const runWork = (l: Listener, h: FrameHandler, work: Effect.Effect<void>) => {
    busy = true
    l.runWork(work, () => {
      busy = false
      pump(l, h)
    })
  }

  const listen = (h: FrameHandler, l: Listener) => {
    handler = h
    listener = l
    pump(l, h)
  }
  listeners.set(run, listen)
  if (options.sendNow !== undefined) senders.set(run, { send: options.send, sendNow: options.sendNow })

  return {
    connection: { send: options.send, close: options.close, run },
    receive: (frame) => {
      if (listener !== undefined && handler !== undefined) {
        if (busy) return hold(frame)
        const work = invoke(handler, [frame])
        if (work !== undefined) runWork(listener, handler, work)
        return
      }
      if (wake === undefined || handler === undefined) return hold(frame)
      const work = invoke(handler, [frame])
      if (work !== undefined) wakeWith(work)
    },
    closed: (info) => {
      closed ??= info
      if (listener !== undefined && handler !== undefined) {
        if (!busy) pump(listener, handler)
        return
      }
      if (wake !== undefined) wakeWith(undefined)
    }
  }
}

/**
 * What the socket transports share: mainly the inbound side, and `send`. A frame is handed to the handler from the
 * socket's own callback, synchronously, so a reply reaches its caller without waiting for another
 * fiber to be scheduled. Frames are held in a backlog only before `run` starts and while an Effect
 * returned by the handler runs; past `highWaterMark` held frames the transport is told (`onFull`:
 * pause the socket, or drop the connection where it cannot pause) and, once the backlog is
 * drained, `onDrained`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Transport from "../Transport.js"

/** @internal */
export interface Inbound {
  /** A text frame from the socket. */
  readonly frame: (frame: string) => void
  /** The socket closed: after the frames already received. */
  readonly close: (info: Transport.CloseInfo) => void
  readonly run: Transport.Connection["run"]
}

/** @internal */
export const make = (options: {
  readonly highWaterMark: number
  readonly onFull: () => void
  readonly onDrained: () => void
}): Inbound => {
  let handler: Transport.FrameHandler | undefined
  const backlog: Array<string> = []
  let closed: Transport.CloseInfo | undefined
  let full = false
  /** Set while `run` waits with nothing to do; the next frame or the close wakes it. */
  let wake: ((work: Effect.Effect<Effect.Effect<void> | undefined>) => void) | undefined

  const invoke = (h: Transport.FrameHandler, frames: ReadonlyArray<string>) => {
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

  const hold = (frame: string) => {
    backlog.push(frame)
    if (!full && backlog.length >= options.highWaterMark) {
      full = true
      options.onFull()
    }
  }

  /** Hands the backlog over; returns the first Effect the handler asks to run. */
  const drain = (h: Transport.FrameHandler): Effect.Effect<void> | undefined => {
    while (backlog.length > 0) {
      const work = invoke(h, backlog.splice(0, Transport.maxBatch))
      if (work !== undefined) return work
    }
    if (full) {
      full = false
      options.onDrained()
    }
    return undefined
  }

  const run: Transport.Connection["run"] = (h) => {
    handler = h
    const loop: Effect.Effect<Transport.CloseInfo> = Effect.suspend(() => {
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

  return {
    frame: (frame) => {
      if (wake === undefined || handler === undefined) return hold(frame)
      const work = invoke(handler, [frame])
      if (work !== undefined) wakeWith(work)
    },
    close: (info) => {
      closed ??= info
      if (wake !== undefined) wakeWith(undefined)
    },
    run
  }
}

/** @internal The error for a socket that closes before it opened. */
export const closedDuringHandshake = (url: string, code: number): Transport.TransportError =>
  new Transport.TransportError({ reason: "OpenFailed", message: `${url} closed during the handshake (${code})` })

/** The state of an open socket, in the `ws` library and in the standard API alike. */
const OPEN = 1

/**
 * @internal `Connection.send` over a socket: writes at once, without waiting for the write to
 * complete (a failed write surfaces as the socket's close).
 */
export const send =
  (socket: { readonly readyState: number; send(frame: string): void }) =>
  (frame: string): Effect.Effect<void, Transport.TransportError> =>
    Effect.suspend(() => {
      if (socket.readyState !== OPEN) {
        return Effect.fail(new Transport.TransportError({ reason: "Closed", message: "the socket is not open" }))
      }
      socket.send(frame)
      return Effect.void
    })

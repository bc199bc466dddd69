/**
 * Keepalive and liveness for one connection, ticked while it lives (its scope removes it):
 * a `ping` every `pingMs`; the connection is dropped when no frame arrived for `silenceMs` (a
 * half-open connection), or when `maxMissedPongs` pings in a row went unanswered (a gateway that
 * still sends heartbeats but answers nothing). Frames are counted by the reader; the keepalive only
 * watches the count move, so the frame path reads no clock.
 *
 * @internal
 */
import { CloseCode, type Codec } from "@diminuendo/protocol"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Link } from "./link.js"
import type { Tick, Timed } from "./timers.js"

export interface KeepaliveOptions {
  readonly clock: Clock.Clock
  readonly codec: Codec.ClientCodec
  /** 0 disables pings. */
  readonly pingMs: number
  /** 0 disables the silence check. */
  readonly silenceMs: number
  readonly maxMissedPongs: number
}

/** How often a keepalive looks: the ping interval, or half the silence window if that is shorter. */
export const period = (options: Pick<KeepaliveOptions, "pingMs" | "silenceMs">): number =>
  Math.max(
    1,
    Math.min(options.pingMs > 0 ? options.pingMs : Infinity, options.silenceMs > 0 ? options.silenceMs / 2 : Infinity)
  )

/**
 * The keepalive of `link`, ticked by the client's timers while the connection lives, or `undefined`
 * when there is nothing to watch.
 */
export const make = (link: Link, options: KeepaliveOptions): Timed | undefined => {
  const { clock, pingMs, silenceMs } = options
  if (pingMs <= 0 && silenceMs <= 0) return undefined
  // The silence check looks twice per window: a silent connection is dropped between `silenceMs`
  // and 1.5 times that after its last frame.
  const every = period(options)
  let seen = link.frames
  let quietSince = clock.unsafeCurrentTimeMillis()
  let nextCheck = quietSince + every
  let nextPingAt = quietSince + pingMs
  let missed = 0
  let dropped = false
  const drop = (code: number, reason: string, message: string): Tick => {
    dropped = true
    return {
      next: Number.POSITIVE_INFINITY,
      effect: Effect.zipRight(
        Effect.logWarning(message).pipe(Effect.annotateLogs({ epoch: link.epoch })),
        link.connection.close(code, reason)
      )
    }
  }
  return (now) => {
    if (dropped) return { next: Number.POSITIVE_INFINITY }
    if (now < nextCheck) return { next: nextCheck }
    nextCheck = now + every
    if (silenceMs > 0) {
      if (link.frames !== seen) {
        seen = link.frames
        quietSince = now
      } else if (now - quietSince >= silenceMs) {
        return drop(
          CloseCode.SilenceTimeout,
          "silence timeout",
          "no frame from the gateway within the silence timeout; dropping the connection"
        )
      }
    }
    if (pingMs > 0 && now >= nextPingAt) {
      missed = link.pingTs === undefined ? 0 : missed + 1
      if (missed >= options.maxMissedPongs) {
        return drop(
          CloseCode.PongTimeout,
          "pong timeout",
          `${missed} pings in a row went unanswered; dropping the connection`
        )
      }
      nextPingAt = now + pingMs
      link.pingTs = now
      const frame = options.codec.encode({ type: "ping", ts: now })
      if (Either.isRight(frame)) return { next: nextCheck, effect: Effect.ignore(link.connection.send(frame.right)) }
    }
    return { next: nextCheck }
  }
}

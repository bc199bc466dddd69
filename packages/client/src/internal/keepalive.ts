/**
 * Keepalive and liveness for one connection, forked into its scope (it ends with the connection):
 * a `ping` every `pingMs`; the connection is dropped when no frame arrived for `silenceMs` (a
 * half-open connection), or when `maxMissedPongs` pings in a row went unanswered (a gateway that
 * still sends heartbeats but answers nothing). Frames are counted by the reader; this fiber only
 * watches the count move, so the frame path reads no clock.
 *
 * @internal
 */
import { CloseCode, type Codec } from "@diminuendo/protocol"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Link } from "./link.js"

export interface KeepaliveOptions {
  readonly clock: Clock.Clock
  readonly codec: Codec.ClientCodec
  /** 0 disables pings. */
  readonly pingMs: number
  /** 0 disables the silence check. */
  readonly silenceMs: number
  readonly maxMissedPongs: number
}

/** The keepalive loop of `link`, or `undefined` when there is nothing to watch. */
export const make = (link: Link, options: KeepaliveOptions): Effect.Effect<void> | undefined => {
  const { clock, pingMs, silenceMs } = options
  if (pingMs <= 0 && silenceMs <= 0) return undefined
  // The silence check looks twice per window: a silent connection is dropped between `silenceMs`
  // and 1.5 times that after its last frame.
  const tick = Math.max(1, Math.min(pingMs > 0 ? pingMs : Infinity, silenceMs > 0 ? silenceMs / 2 : Infinity))
  return Effect.suspend(() => {
    let seen = link.frames
    let quietSince = clock.unsafeCurrentTimeMillis()
    let nextPingAt = quietSince + pingMs
    let missed = 0
    const drop = (code: number, reason: string, message: string) =>
      Effect.zipRight(
        Effect.logWarning(message).pipe(Effect.annotateLogs({ epoch: link.epoch })),
        link.connection.close(code, reason)
      )
    const step: Effect.Effect<void> = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
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
        if (Either.isRight(frame)) {
          return Effect.zipRight(Effect.ignore(link.connection.send(frame.right)), loop)
        }
      }
      return loop
    })
    const loop: Effect.Effect<void> = Effect.zipRight(Effect.sleep(Duration.millis(tick)), step)
    return loop
  })
}

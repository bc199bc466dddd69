/**
 * What the client reports instead of failing: every report goes on `diagnostics`; its log line is
 * rate-limited (a flood of bad frames must not become a flood of log lines), and what was held back
 * is counted in one line when the window closes.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Diagnostic } from "../Diagnostic.js"
import type { Broadcast } from "./broadcast.js"

/** Log lines per window; the rest are counted. */
export const linesPerWindow = 10
export const windowMs = 10_000

/** The size a diagnostic is counted as in subscriber buffers (its excerpt, at most ~200 characters). */
const diagnosticBytes = 256

export interface Warnings {
  /** Publishes `diagnostic` now and queues its log line, unless too many came in this window. */
  readonly warn: (diagnostic: Diagnostic) => void
  /** The log lines queued since the last call, as one Effect, or `undefined` when there are none. */
  readonly drain: () => Effect.Effect<void> | undefined
}

export const make = (diagnostics: Broadcast<Diagnostic>, clock: Clock.Clock): Warnings => {
  let windowStart = Number.NEGATIVE_INFINITY
  let logged = 0
  let suppressed = 0
  let queued: Array<Effect.Effect<void>> = []

  return {
    warn: (diagnostic) => {
      diagnostics.publish(diagnostic, diagnosticBytes)
      const now = clock.unsafeCurrentTimeMillis()
      if (now - windowStart >= windowMs) {
        if (suppressed > 0) {
          const count = suppressed
          queued.push(
            Effect.logWarning(
              `${count} more reports from the gateway's frames were not logged in the last ${windowMs / 1000} s; every one is on diagnostics`
            )
          )
        }
        windowStart = now
        logged = 0
        suppressed = 0
      }
      if (logged >= linesPerWindow) {
        suppressed += 1
        return
      }
      logged += 1
      queued.push(
        Effect.logWarning(
          diagnostic.reason === "SessionReset"
            ? "a session's log went back; the session was reset"
            : "discarded a frame from the gateway"
        ).pipe(Effect.annotateLogs({ reason: diagnostic.reason, message: diagnostic.message }))
      )
    },
    drain: () => {
      if (queued.length === 0) return undefined
      const lines = queued
      queued = []
      return Effect.all(lines, { discard: true })
    }
  }
}

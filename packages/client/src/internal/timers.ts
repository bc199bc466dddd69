/**
 * One fiber keeps every timer of a client: request deadlines and the live connection's keepalive.
 * A fiber costs more memory than the rest of an idle client's state (bench/ANALYSIS.md, idle
 * clients), and a timer per request costs more than the rest of a request's work, so each timed
 * part is a plain object the fiber ticks. With nothing timed it waits, at no cost, to be woken.
 *
 * It naps at most `napMs` (the shortest period of any timed part), so a part added while it sleeps,
 * first due at least `napMs` later, is never late, and nothing has to interrupt a sleep.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** What a timed part does on a tick. */
export interface Tick {
  /** When it is next due (clock millis); `Infinity`: only when something changes. */
  readonly next: number
  /** Work that is due now. */
  readonly effect?: Effect.Effect<void> | undefined
}

/** Ticked at its due times with the clock's current millis. */
export type Timed = (now: number) => Tick

export interface Timers {
  /** Starts ticking `timed`; the returned function stops it. */
  readonly add: (timed: Timed) => () => void
  /** Something became due: wakes the fiber if it waits with nothing to do. */
  readonly wake: () => void
  /** The fiber's loop: fork it once, for the client's life. */
  readonly run: Effect.Effect<never>
}

export const make = (options: { readonly clock: Clock.Clock; readonly napMs: number }): Timers => {
  const { clock } = options
  const napMs = Math.max(1, options.napMs)
  const parts = new Set<Timed>()
  let resume: (() => void) | undefined

  const wake = () => {
    const r = resume
    if (r !== undefined) {
      resume = undefined
      r()
    }
  }

  const idle = Effect.async<void>((callback) => {
    resume = () => callback(Effect.void)
    return Effect.sync(() => {
      resume = undefined
    })
  })

  const run: Effect.Effect<never> = Effect.suspend(() => {
    const now = clock.unsafeCurrentTimeMillis()
    let next = Number.POSITIVE_INFINITY
    let effects: Array<Effect.Effect<void>> | undefined
    for (const timed of [...parts]) {
      const tick = timed(now)
      if (tick.next < next) next = tick.next
      if (tick.effect !== undefined) (effects ??= []).push(tick.effect)
    }
    const wait =
      next === Number.POSITIVE_INFINITY ? idle : Effect.sleep(Duration.millis(Math.max(1, Math.min(next - now, napMs))))
    return Effect.zipRight(
      effects === undefined ? wait : Effect.zipRight(Effect.all(effects, { discard: true }), wait),
      run
    )
  })

  return {
    add: (timed) => {
      parts.add(timed)
      wake()
      return () => void parts.delete(timed)
    },
    wake,
    run
  }
}

/**
 * Every timer of a client in one place: request deadlines and the live connection's keepalive.
 * A timer per request costs more than the rest of a request's work, so each timed part is a plain
 * object that is ticked at its due times.
 *
 * Under Effect's live `Clock` the ticks come from one JavaScript timer and the work they find due
 * runs in a fiber forked for it: an idle client keeps no fiber for its timers (a fiber and its
 * `FiberRef`s are ~4 KB, more than the rest of the timers; bench/ANALYSIS.md, memory per idle
 * client). Under any other clock (`TestClock`) a fiber sleeps on that clock, so tests move time.
 *
 * It naps at most `napMs` (the shortest period of any timed part), so a part added while it sleeps,
 * first due at least `napMs` later, is never late, and nothing has to cancel a sleep.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"

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
  /** Something became due: ticks soon if nothing is scheduled. */
  readonly wake: () => void
  /** Starts ticking, for the life of the scope. */
  readonly start: Effect.Effect<void, never, Scope.Scope>
}

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)
const maxTimerMs = 2 ** 31 - 1

export const make = (options: { readonly clock: Clock.Clock; readonly napMs: number }): Timers => {
  const { clock } = options
  const napMs = Math.max(1, options.napMs)
  const parts = new Set<Timed>()

  /** Ticks every part: the work due now, and how long until the next is due (`Infinity`: none). */
  const tick = () => {
    const now = clock.unsafeCurrentTimeMillis()
    let next = Number.POSITIVE_INFINITY
    let effects: Array<Effect.Effect<void>> | undefined
    for (const timed of [...parts]) {
      const tick = timed(now)
      if (tick.next < next) next = tick.next
      if (tick.effect !== undefined) (effects ??= []).push(tick.effect)
    }
    return {
      work: effects === undefined ? undefined : Effect.all(effects, { discard: true }),
      delay: next === Number.POSITIVE_INFINITY ? next : Math.max(1, Math.min(next - now, napMs))
    }
  }

  /** Set while the driver waits with nothing scheduled: starts a tick. */
  let kick: (() => void) | undefined
  const wake = () => {
    const k = kick
    if (k !== undefined) {
      kick = undefined
      k()
    }
  }

  /** A fiber that sleeps on the clock between ticks (any clock). */
  const onFiber = (scope: Scope.Scope) => {
    const idle = Effect.async<void>((callback) => {
      kick = () => callback(Effect.void)
      return Effect.sync(() => {
        kick = undefined
      })
    })
    const loop: Effect.Effect<never> = Effect.suspend(() => {
      const { delay, work } = tick()
      const wait = delay === Number.POSITIVE_INFINITY ? idle : Effect.sleep(Duration.millis(delay))
      return Effect.zipRight(work === undefined ? wait : Effect.zipRight(work, wait), loop)
    })
    return Effect.asVoid(Effect.forkIn(loop, scope))
  }

  /** One JavaScript timer between ticks; due work runs in a fiber forked for it (the live clock). */
  const onTimer = (scope: Scope.Scope) =>
    Effect.gen(function* () {
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())
      let timer: ReturnType<typeof setTimeout> | undefined
      /** The work of the last tick, while it runs: interrupted when the scope closes. */
      let running: Fiber.RuntimeFiber<void> | undefined
      let stopped = false
      const fire = () => {
        timer = undefined
        if (stopped) return
        const { delay, work } = tick()
        if (work !== undefined) {
          const fiber = runFork(work)
          running = fiber
          fiber.addObserver(() => {
            if (running === fiber) running = undefined
          })
        }
        if (delay === Number.POSITIVE_INFINITY) kick = () => (timer = setTimeout(fire, 0))
        // A JavaScript timer takes at most 2^31-1 ms (a longer one fires at once): it ticks again then.
        else timer = setTimeout(fire, Math.min(delay, maxTimerMs))
      }
      yield* Scope.addFinalizer(
        scope,
        Effect.suspend(() => {
          stopped = true
          kick = undefined
          if (timer !== undefined) clearTimeout(timer)
          return running === undefined ? Effect.void : Fiber.interrupt(running)
        })
      )
      fire()
    })

  return {
    add: (timed) => {
      parts.add(timed)
      wake()
      return () => void parts.delete(timed)
    },
    wake,
    start: Effect.flatMap(Effect.scope, (scope) => (clock === liveClock ? onTimer(scope) : onFiber(scope)))
  }
}

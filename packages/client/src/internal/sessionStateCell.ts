/**
 * A cell holding the latest value, with a `changes` Stream per reader. Policy: a reader is handed
 * the current value, then the latest one each time it pulls after a change; values set while it
 * was busy are skipped (each value includes everything before it, as a session state does). So a
 * reader holds at most one value, however slow it is, and the writer never waits.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

export interface Cell<A, E> {
  readonly get: () => A
  readonly set: (value: A) => void
  /**
   * Ends every reader's stream once it has the latest value: normally when the writer succeeded or
   * was interrupted, otherwise with the writer's failure.
   */
  readonly end: (exit: Exit.Exit<unknown, E>) => void
  readonly changes: Stream.Stream<A, E>
}

export const make = <A, E>(initial: A): Cell<A, E> => {
  let current = initial
  let ended: Cause.Cause<Option.Option<E>> | undefined
  const waiting = new Set<() => void>()
  const wakeAll = () => {
    for (const wake of [...waiting]) wake()
  }
  const nextChange = Effect.async<void>((resume) => {
    const wake = () => {
      waiting.delete(wake)
      resume(Effect.void)
    }
    waiting.add(wake)
    return Effect.sync(() => void waiting.delete(wake))
  })
  return {
    get: () => current,
    set: (value) => {
      if (value === current || ended !== undefined) return
      current = value
      wakeAll()
    },
    end: (exit) => {
      if (ended !== undefined) return
      ended =
        Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)
          ? Cause.fail(Option.none())
          : Cause.map(exit.cause, Option.some)
      wakeAll()
    },
    changes: Stream.suspend(() => {
      let handed: { readonly value: A } | undefined
      const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = Effect.suspend(() => {
        if (handed === undefined || handed.value !== current) {
          handed = { value: current }
          return Effect.succeed(Chunk.of(current))
        }
        if (ended !== undefined) return Effect.failCause(ended)
        return Effect.zipRight(nextChange, pull)
      })
      return Stream.repeatEffectChunkOption(pull)
    })
  }
}

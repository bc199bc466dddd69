/**
 * The connection state: a current value and, for each reader of `changes`, the values set since it
 * last pulled. Lighter than a `SubscriptionRef` (no hub until someone reads changes, and the
 * `changes` Stream itself is built when read). Policy: a reader more than `capacity` values behind
 * loses the oldest; it always ends on the latest. Once `end` ran (the client closed or gave up),
 * every reader's stream ends after the last value, and a later one has the last value only.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Subscribable from "effect/Subscribable"

interface Reader<A> {
  pending: Array<A>
  wake: (() => void) | undefined
}

export interface StateCell<A> {
  readonly get: () => A
  readonly set: (value: A) => void
  /** No value follows: every `changes` ends after the last one. */
  readonly end: () => void
  /** Read and watch only: the current value, then each one set. */
  readonly subscribable: Subscribable.Subscribable<A>
}

export const make = <A>(initial: A, capacity = 256): StateCell<A> => {
  let current = initial
  const readers = new Set<Reader<A>>()
  let ended = false

  const wake = (reader: Reader<A>) => {
    const w = reader.wake
    if (w !== undefined) {
      reader.wake = undefined
      w()
    }
  }

  const changes = (): Stream.Stream<A> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const reader: Reader<A> = { pending: [current], wake: undefined }
        readers.add(reader)
        yield* Effect.addFinalizer(() => Effect.sync(() => readers.delete(reader)))
        const waitForMore = Effect.async<void>((resume) => {
          reader.wake = () => resume(Effect.void)
          return Effect.sync(() => {
            reader.wake = undefined
          })
        })
        const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<never>> = Effect.suspend(() => {
          if (reader.pending.length > 0) {
            const values = reader.pending
            reader.pending = []
            return Effect.succeed(Chunk.unsafeFromArray(values))
          }
          if (ended) return Effect.fail(Option.none())
          return Effect.zipRight(waitForMore, pull)
        })
        return Stream.repeatEffectChunkOption(pull)
      })
    )

  return {
    get: () => current,
    set: (value) => {
      current = value
      for (const reader of readers) {
        reader.pending.push(value)
        if (reader.pending.length > capacity) reader.pending.shift()
        wake(reader)
      }
    },
    end: () => {
      ended = true
      for (const reader of readers) wake(reader)
    },
    subscribable: Subscribable.make({ get: Effect.sync(() => current), changes: Stream.suspend(changes) })
  }
}

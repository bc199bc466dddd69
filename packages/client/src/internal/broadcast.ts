/**
 * Fan-out of events to subscribers, each with its own bounded buffer. Policy for a subscriber that
 * falls behind: when its buffer is full, its stream fails with `SlowConsumer` after delivering
 * what it had buffered; the other subscribers and the connection are not affected, and memory stays
 * bounded. Nothing is dropped silently.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { GatewayError } from "../GatewayError.js"

interface Subscriber<A> {
  /** What has arrived and not been read: at most `capacity` values. */
  buffer: Array<A>
  readonly capacity: number
  /** Set once the stream is to end after its buffer: `None` at the end, `Some` for `SlowConsumer`. */
  end: Option.Option<GatewayError> | undefined
  /** The reader waiting for the next value, if it waits. */
  wake: (() => void) | undefined
}

export interface Broadcast<A> {
  readonly publish: (value: A) => void
  /** Ends every subscriber's stream (the client closed). */
  readonly end: () => void
  /** Subscribes now (no event published after this is missed); the stream reads what arrives. */
  readonly subscribeScoped: (capacity: number) => Effect.Effect<Stream.Stream<A, GatewayError>, never, Scope.Scope>
  readonly size: () => number
}

const notify = <A>(subscriber: Subscriber<A>) => {
  const wake = subscriber.wake
  if (wake !== undefined) {
    subscriber.wake = undefined
    wake()
  }
}

export const make = <A>(): Broadcast<A> => {
  const subscribers = new Set<Subscriber<A>>()
  let ended = false
  return {
    publish: (value) => {
      for (const subscriber of subscribers) {
        if (subscriber.end !== undefined) continue
        if (subscriber.buffer.length >= subscriber.capacity) {
          subscriber.end = Option.some(
            new GatewayError({
              reason: "SlowConsumer",
              message: `an event stream fell more than ${subscriber.capacity} events behind and was ended`
            })
          )
        } else subscriber.buffer.push(value)
        notify(subscriber)
      }
    },
    end: () => {
      ended = true
      for (const subscriber of subscribers) {
        subscriber.end ??= Option.none()
        notify(subscriber)
      }
    },
    size: () => subscribers.size,
    subscribeScoped: (capacity) =>
      Effect.gen(function* () {
        const subscriber: Subscriber<A> = {
          buffer: [],
          capacity,
          end: ended ? Option.none() : undefined,
          wake: undefined
        }
        subscribers.add(subscriber)
        yield* Effect.addFinalizer(() => Effect.sync(() => subscribers.delete(subscriber)))
        const waitForMore = Effect.async<void>((resume) => {
          subscriber.wake = () => resume(Effect.void)
          return Effect.sync(() => {
            subscriber.wake = undefined
          })
        })
        // Everything that has arrived, as one chunk: the buffer is handed over, not copied.
        const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<GatewayError>> = Effect.suspend(() => {
          if (subscriber.buffer.length > 0) {
            const values = subscriber.buffer
            subscriber.buffer = []
            return Effect.succeed(Chunk.unsafeFromArray(values))
          }
          if (subscriber.end !== undefined) return Effect.fail(subscriber.end)
          return Effect.zipRight(waitForMore, pull)
        })
        return Stream.repeatEffectChunkOption(pull)
      })
  }
}

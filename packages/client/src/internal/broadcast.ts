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
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { GatewayError } from "../GatewayError.js"

type Item<A> = { readonly _tag: "Value"; readonly value: A } | { readonly _tag: "Overflow" } | { readonly _tag: "End" }

interface Subscriber<A> {
  readonly queue: Queue.Queue<Item<A>>
  readonly capacity: number
  overflowed: boolean
}

export interface Broadcast<A> {
  readonly publish: (value: A) => void
  /** Ends every subscriber's stream (the client closed). */
  readonly end: () => void
  /** Subscribes now (no event published after this is missed); the stream reads what arrives. */
  readonly subscribeScoped: (capacity: number) => Effect.Effect<Stream.Stream<A, GatewayError>, never, Scope.Scope>
  readonly size: () => number
}

export const make = <A>(): Broadcast<A> => {
  const subscribers = new Set<Subscriber<A>>()
  let ended = false
  const offer = (subscriber: Subscriber<A>, item: Item<A>) => {
    if (subscriber.overflowed) return
    // One slot is kept for the overflow marker.
    if (item._tag === "Value" && Option.getOrElse(subscriber.queue.unsafeSize(), () => 0) >= subscriber.capacity) {
      subscriber.overflowed = true
      subscriber.queue.unsafeOffer({ _tag: "Overflow" })
      return
    }
    subscriber.queue.unsafeOffer(item)
  }
  return {
    publish: (value) => {
      for (const subscriber of subscribers) offer(subscriber, { _tag: "Value", value })
    },
    end: () => {
      ended = true
      for (const subscriber of subscribers) subscriber.queue.unsafeOffer({ _tag: "End" })
    },
    size: () => subscribers.size,
    subscribeScoped: (capacity) =>
      Effect.gen(function* () {
        const queue = yield* Effect.acquireRelease(Queue.bounded<Item<A>>(capacity + 2), Queue.shutdown)
        const subscriber: Subscriber<A> = { queue, capacity, overflowed: false }
        if (ended) queue.unsafeOffer({ _tag: "End" })
        subscribers.add(subscriber)
        yield* Effect.addFinalizer(() => Effect.sync(() => subscribers.delete(subscriber)))
        // Taken in chunks: one queue operation for everything that has arrived.
        let end: Option.Option<GatewayError> | undefined
        const pull = Effect.suspend(() =>
          end !== undefined
            ? Effect.fail(end)
            : Effect.flatMap(Queue.takeBetween(queue, 1, capacity + 2), (items) => {
                const values: Array<A> = []
                for (const item of items) {
                  if (item._tag === "Value") values.push(item.value)
                  else {
                    end =
                      item._tag === "End"
                        ? Option.none()
                        : Option.some(
                            new GatewayError({
                              reason: "SlowConsumer",
                              message: `an event stream fell more than ${capacity} events behind and was ended`
                            })
                          )
                    break
                  }
                }
                return values.length > 0 ? Effect.succeed(Chunk.unsafeFromArray(values)) : Effect.fail(end!)
              })
        )
        return Stream.repeatEffectChunkOption(pull)
      })
  }
}

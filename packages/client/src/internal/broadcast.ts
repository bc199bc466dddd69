/**
 * Fan-out of events to subscribers, each with its own buffer, bounded in events and in bytes (the
 * size of the frames the events came in). Policy for a subscriber that falls behind: when its
 * buffer is full, its stream fails with `SlowConsumer` after delivering what it had buffered; the
 * other subscribers and the connection are not affected, and memory stays bounded. Nothing is
 * dropped silently.
 *
 * Why not one `Mailbox` per subscriber: measured on the same stream of 1,000,000 events it is no
 * faster (bench/ANALYSIS.md, "Broadcast"), and it cannot tell how many bytes a subscriber holds
 * (what it hands over is taken inside `toStream`), which the byte bound needs.
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
  /** The bytes of what is in `buffer`. */
  bytes: number
  readonly capacity: number
  readonly maxBytes: number
  /** Set once the stream is to end after its buffer: `None` at the end, `Some` for `SlowConsumer`. */
  end: Option.Option<GatewayError> | undefined
  /** The reader waiting for the next value, if it waits. */
  wake: (() => void) | undefined
}

/** How far a subscriber may fall behind. */
export interface Bounds {
  readonly events: number
  readonly bytes: number
}

export interface Broadcast<A> {
  /** Hands `value` (of `bytes` bytes on the wire) to every subscriber. */
  readonly publish: (value: A, bytes: number) => void
  /**
   * Ends every subscriber's stream after what it holds, and every later one at once: normally when
   * the client closes, failing with `error` when it gave up (a reader must not wait forever).
   */
  readonly end: (error?: GatewayError) => void
  /** Subscribes now (no event published after this is missed); the stream reads what arrives. */
  readonly subscribeScoped: (bounds: Bounds) => Effect.Effect<Stream.Stream<A, GatewayError>, never, Scope.Scope>
  readonly size: () => number
}

const notify = <A>(subscriber: Subscriber<A>) => {
  const wake = subscriber.wake
  if (wake !== undefined) {
    subscriber.wake = undefined
    wake()
  }
}

const slow = (behind: string) =>
  new GatewayError({
    reason: "SlowConsumer",
    message: `an event stream fell ${behind} behind and was ended`
  })

/**
 * A class, not closures: a client has one per stream kind and one per followed session, most of
 * them without subscribers, so each costs a few fields (the methods live on the prototype).
 */
class BroadcastImpl<A> implements Broadcast<A> {
  /** Created with the first subscriber. */
  private subscribers: Set<Subscriber<A>> | undefined = undefined
  /** Set once `end` ran: how every stream ends (`None` normally, `Some` failing). */
  private ended: Option.Option<GatewayError> | undefined = undefined

  publish(value: A, bytes: number): void {
    const subscribers = this.subscribers
    if (subscribers === undefined || subscribers.size === 0) return
    for (const subscriber of subscribers) {
      if (subscriber.end !== undefined) continue
      if (subscriber.buffer.length >= subscriber.capacity) {
        subscriber.end = Option.some(slow(`more than ${subscriber.capacity} events`))
      } else if (subscriber.bytes + bytes > subscriber.maxBytes && subscriber.buffer.length > 0) {
        subscriber.end = Option.some(slow(`more than ${subscriber.maxBytes} bytes of events`))
      } else {
        subscriber.buffer.push(value)
        subscriber.bytes += bytes
      }
      notify(subscriber)
    }
  }

  end(error?: GatewayError): void {
    this.ended ??= Option.fromNullable(error)
    if (this.subscribers === undefined) return
    for (const subscriber of this.subscribers) {
      subscriber.end ??= this.ended
      notify(subscriber)
    }
  }

  size(): number {
    return this.subscribers?.size ?? 0
  }

  subscribeScoped(bounds: Bounds): Effect.Effect<Stream.Stream<A, GatewayError>, never, Scope.Scope> {
    return Effect.suspend(() => {
      const subscriber: Subscriber<A> = {
        buffer: [],
        bytes: 0,
        capacity: bounds.events,
        maxBytes: bounds.bytes,
        end: this.ended,
        wake: undefined
      }
      const subscribers = (this.subscribers ??= new Set())
      subscribers.add(subscriber)
      return Effect.as(
        Effect.addFinalizer(() => Effect.sync(() => subscribers.delete(subscriber))),
        Stream.repeatEffectChunkOption(pullFrom(subscriber))
      )
    })
  }
}

/** Everything that has arrived, as one chunk (the buffer is handed over, not copied), or the end. */
const pullFrom = <A>(subscriber: Subscriber<A>): Effect.Effect<Chunk.Chunk<A>, Option.Option<GatewayError>> => {
  const waitForMore = Effect.async<void>((resume) => {
    subscriber.wake = () => resume(Effect.void)
    return Effect.sync(() => {
      subscriber.wake = undefined
    })
  })
  const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<GatewayError>> = Effect.suspend(() => {
    if (subscriber.buffer.length > 0) {
      const values = subscriber.buffer
      subscriber.buffer = []
      subscriber.bytes = 0
      return Effect.succeed(Chunk.unsafeFromArray(values))
    }
    if (subscriber.end !== undefined) return Effect.fail(subscriber.end)
    return Effect.zipRight(waitForMore, pull)
  })
  return pull
}

export const make = <A>(): Broadcast<A> => new BroadcastImpl<A>()

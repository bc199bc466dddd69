/**
 * The sessions this client has joined: a sequencer each (exactly once, in order, or a gap), and a
 * fan-out per session so a session's subscribers see only its items. A session's fan-out lives
 * while it has subscribers or is joined, and is dropped after.
 *
 * @internal
 */
import type { ServerEvent } from "@diminuendo/protocol"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { GatewayError } from "../GatewayError.js"
import * as Broadcast from "./broadcast.js"
import * as Sequencer from "./sequencer.js"

export interface Sessions {
  /** Whether the session is joined (its events are sequenced and fanned out). */
  readonly isJoined: (sessionId: string) => boolean
  /** Starts sequencing a session, from `afterSeq` when given; no-op when already joined. */
  readonly join: (sessionId: string, afterSeq: number | undefined) => void
  readonly leave: (sessionId: string) => void
  /** Where each joined session resumes: the last `seq` delivered. */
  readonly resumePoints: () => ReadonlyArray<readonly [sessionId: string, afterSeq: number | undefined]>
  readonly lastSeq: (sessionId: string) => number | undefined
  /**
   * A session event or gap from the gateway, with the size of its frame. Returns `true` when the
   * event shows that the session's log restarted unannounced: re-join it from its start.
   */
  readonly deliver: (event: Sequencer.Entry | ServerEvent.Gap, bytes: number) => boolean
  /** The replay after a join ended: open holes become gaps, and what `expectReplay` waits for. */
  readonly replayComplete: (sessionId: string) => void
  /**
   * Looks for the session's next `replay_complete` from now on (so a join sent after this call
   * cannot answer before it is looked for): `wait` completes at it; `cancel` stops looking.
   */
  readonly expectReplay: (sessionId: string) => { readonly wait: Effect.Effect<void>; readonly cancel: () => void }
  /**
   * Where the gateway says the log stands (`lastSeq` of a snapshot or replay): the position of a
   * session that has delivered nothing yet; `true` when it shows the log went backwards (a reset was
   * delivered and the session must be joined again from its new position).
   */
  readonly position: (sessionId: string, seq: number) => boolean
  /** Subscribes now (nothing published after this is missed) to one session's items. */
  readonly subscribe: (
    sessionId: string,
    bounds: Broadcast.Bounds
  ) => Effect.Effect<Stream.Stream<Sequencer.SessionItem, GatewayError>, never, Scope.Scope>
  /**
   * The session can no longer be followed (its re-join was refused): its streams fail with `error`
   * after what they hold, and it is no longer joined (subscribing again joins it afresh).
   */
  readonly fail: (sessionId: string, error: GatewayError) => void
  /** Ends every session stream: normally when the client closes, failing with `error` when it gave up. */
  readonly end: (error?: GatewayError) => void
  /**
   * Marks the session as being joined again after its log went backwards, until the returned
   * function is called: meanwhile `afterRejoin` waits, each waiter at most `timeout` (after which
   * the fence is dropped: one that is never released holds nothing up for good).
   */
  readonly fence: (sessionId: string, timeout: Duration.Duration) => () => void
  /** Waits while the session is fenced (at once when it is not). */
  readonly afterRejoin: (sessionId: string) => Effect.Effect<void>
  /** Session fan-outs alive (for tests of cleanup). */
  readonly fanOuts: () => number
}

export const make = (options: {
  /** Receives every item too (the client's `events`). */
  readonly publishAll: (item: ServerEvent.ServerEvent, bytes: number) => void
  readonly reorderWindow: number
  /** What a session's sequencer reports (a reset, an event dropped that was not a known duplicate). */
  readonly report: (reason: "SessionReset" | "StaleEvent", message: string) => void
}): Sessions => {
  const joined = new Map<string, Sequencer.Sequencer>()
  const fanOuts = new Map<string, Broadcast.Broadcast<Sequencer.SessionItem>>()
  /** Set once `end` ran: how every session stream ends (`None` normally, `Some` failing). */
  let ended: Option.Option<GatewayError> | undefined
  /** Sessions being joined again (`fence`): how many re-joins, and who waits for them to end. */
  const fences = new Map<
    string,
    { count: number; readonly waiters: Set<() => void>; readonly timeout: Duration.Duration }
  >()
  /** Who waits for a session's next `replay_complete` (`expectReplay`). */
  const replayWaiters = new Map<string, Set<() => void>>()
  /**
   * The last session looked up, with its sequencer and fan-out: a stream's events are mostly one
   * session's, and comparing its id is cheaper than hashing it twice per event. Cleared whenever
   * `joined` or `fanOuts` change.
   */
  let cachedId: string | undefined
  let cachedSequencer: Sequencer.Sequencer | undefined
  let cachedFanOut: Broadcast.Broadcast<Sequencer.SessionItem> | undefined
  const forget = () => {
    cachedId = cachedSequencer = cachedFanOut = undefined
  }
  const lookup = (sessionId: string) => {
    if (sessionId !== cachedId) {
      cachedId = sessionId
      cachedSequencer = joined.get(sessionId)
      cachedFanOut = fanOuts.get(sessionId)
    }
  }

  const publish: Sequencer.Emit = (item, bytes) => {
    const { sessionId, type } = item
    // A reset is the client's own item: on the session's stream only.
    if (type !== "reset") options.publishAll(item, bytes)
    lookup(sessionId)
    cachedFanOut?.publish(item, bytes)
  }

  const release = (sessionId: string) => {
    const fanOut = fanOuts.get(sessionId)
    if (fanOut !== undefined && fanOut.size() === 0 && !joined.has(sessionId)) {
      fanOuts.delete(sessionId)
      forget()
    }
  }

  return {
    isJoined: (sessionId) => joined.has(sessionId),
    join: (sessionId, afterSeq) => {
      if (!joined.has(sessionId)) {
        forget()
        joined.set(sessionId, Sequencer.make(sessionId, afterSeq, options.reorderWindow, options.report))
      }
    },
    leave: (sessionId) => {
      joined.delete(sessionId)
      forget()
      release(sessionId)
    },
    fail: (sessionId, error) => {
      joined.delete(sessionId)
      const fanOut = fanOuts.get(sessionId)
      fanOuts.delete(sessionId)
      forget()
      fanOut?.end(error)
    },
    resumePoints: () =>
      [...joined.entries()].map(([sessionId, sequencer]) => [sessionId, sequencer.lastSeq()] as const),
    lastSeq: (sessionId) => joined.get(sessionId)?.lastSeq(),
    deliver: (event, bytes) => {
      const { sessionId, type } = event
      lookup(sessionId)
      const sequencer = cachedSequencer
      if (sequencer === undefined) {
        // Not joined: nothing vouches for its order or origin, so it joins no session stream;
        // it is still visible on `events`.
        options.publishAll(event, bytes)
        return false
      }
      if (type !== "gap") return sequencer.accept(event as Sequencer.Entry, bytes, publish)
      sequencer.gap(event as ServerEvent.Gap, publish)
      return false
    },
    replayComplete: (sessionId) => {
      joined.get(sessionId)?.settle(publish)
      const waiting = replayWaiters.get(sessionId)
      if (waiting !== undefined) {
        replayWaiters.delete(sessionId)
        for (const done of waiting) done()
      }
    },
    expectReplay: (sessionId) => {
      let done = false
      let resume: (() => void) | undefined
      const waiter = () => {
        done = true
        resume?.()
      }
      const waiting = replayWaiters.get(sessionId)
      if (waiting === undefined) replayWaiters.set(sessionId, new Set([waiter]))
      else waiting.add(waiter)
      const cancel = () => {
        const set = replayWaiters.get(sessionId)
        set?.delete(waiter)
        if (set?.size === 0) replayWaiters.delete(sessionId)
      }
      const wait = Effect.async<void>((callback) => {
        if (done) return callback(Effect.void)
        resume = () => callback(Effect.void)
      })
      return { wait, cancel }
    },
    fence: (sessionId, timeout) => {
      let fence = fences.get(sessionId)
      if (fence === undefined) fences.set(sessionId, (fence = { count: 0, waiters: new Set(), timeout }))
      fence.count += 1
      let released = false
      return () => {
        if (released) return
        released = true
        fence.count -= 1
        if (fence.count > 0) return
        if (fences.get(sessionId) === fence) fences.delete(sessionId)
        for (const waiter of fence.waiters) waiter()
      }
    },
    afterRejoin: (sessionId) =>
      Effect.suspend(() => {
        const fence = fences.get(sessionId)
        if (fence === undefined) return Effect.void
        const released = Effect.async<void>((resume) => {
          const waiter = () => resume(Effect.void)
          fence.waiters.add(waiter)
          return Effect.sync(() => void fence.waiters.delete(waiter))
        })
        return Effect.catchAll(Effect.timeout(released, fence.timeout), () =>
          Effect.sync(() => {
            if (fences.get(sessionId) === fence) fences.delete(sessionId)
          })
        )
      }),
    position: (sessionId, seq) => joined.get(sessionId)?.position(seq, publish) ?? false,
    subscribe: (sessionId, bounds) =>
      Effect.suspend(() => {
        let fanOut = fanOuts.get(sessionId)
        if (fanOut === undefined) {
          fanOut = Broadcast.make<Sequencer.SessionItem>()
          if (ended !== undefined) fanOut.end(Option.getOrUndefined(ended))
          fanOuts.set(sessionId, fanOut)
          forget()
        }
        // Finalizers run last-in first-out: the subscriber is gone by the time `release` looks.
        return Effect.zipRight(
          Effect.addFinalizer(() => Effect.sync(() => release(sessionId))),
          fanOut.subscribeScoped(bounds)
        )
      }),
    end: (error) => {
      ended ??= Option.fromNullable(error)
      for (const fanOut of fanOuts.values()) fanOut.end(error)
    },
    fanOuts: () => fanOuts.size
  }
}

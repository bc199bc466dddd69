/**
 * Per-session ordering of session events: drops duplicates, puts reordered events back in `seq`
 * order, turns a hole that does not fill into an explicit gap, and notices when the gateway's log
 * went backwards (a failover restarted it). The client's promise to the application (every session
 * event exactly once, in order, or a gap, or a reset) is kept here.
 *
 * @internal
 */
import type { ServerEvent } from "@diminuendo/protocol"

/**
 * An event of a type this client does not know that names a session and a position in its log
 * (`sessionId`, `seq`): it holds that place in the order, so what follows it is not a hole.
 */
export interface UnknownSessionEvent extends ServerEvent.UnknownEvent {
  readonly sessionId: string
  readonly seq: number
}

/**
 * The session's log went backwards: the gateway now stands at `seq`, below the `previousSeq` this
 * client had delivered (a failover restarted the log, or an earlier `seq` was bogus). What follows
 * continues from `seq`; everything delivered before stays delivered.
 */
export interface SessionReset {
  readonly type: "reset"
  readonly sessionId: string
  readonly previousSeq: number
  readonly seq: number
}

/** An entry of a session's log as the sequencer orders it. */
export type Entry = ServerEvent.SessionEvent | UnknownSessionEvent

/** What the application receives for one session: its events, in order, gaps, and resets. */
export type SessionItem = Entry | ServerEvent.Gap | SessionReset

/** Receives what a sequencer releases, in order, with the size of the frame it came in. */
export type Emit = (item: SessionItem, bytes: number) => void

/** Receives the sequencer's reports: a reset, an event dropped that was not a known duplicate. */
export type Report = (reason: "SessionReset" | "StaleEvent", message: string) => void

/** The size counted for an item the client makes up itself. */
const itemBytes = 64

export interface Sequencer {
  /** The last `seq` delivered, if any: where a resume starts (`afterSeq`). */
  readonly lastSeq: () => number | undefined
  /**
   * An event of the session. Returns `true` when it shows that the gateway's log restarted without
   * saying so: a reset to 0 was emitted and the caller fetches the log again from its start.
   */
  readonly accept: (event: Entry, bytes: number, emit: Emit) => boolean
  /** A gap announced by the gateway. */
  readonly gap: (gap: ServerEvent.Gap, emit: Emit) => void
  /** The replay after a (re)join has ended: a hole still open now will not fill. */
  readonly settle: (emit: Emit) => void
  /** Events held back waiting for a hole to fill. */
  readonly held: () => number
  /**
   * Where the gateway says its log stands (`state_snapshot.lastSeq`, `replay_complete.lastSeq`):
   * sets the position when nothing was delivered yet; below what was delivered, the log went
   * backwards: a reset to `seq` is emitted and `true` returned (the caller fetches the new log).
   */
  readonly position: (seq: number, emit: Emit) => boolean
}

interface Held {
  readonly event: Entry
  readonly bytes: number
}

/** A binary min-heap of numbers: the earliest held `seq` without scanning every held one. */
const heap = () => {
  const items: Array<number> = []
  const swap = (i: number, j: number) => {
    const t = items[i]!
    items[i] = items[j]!
    items[j] = t
  }
  return {
    push: (n: number) => {
      items.push(n)
      for (let i = items.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1
        if (items[parent]! <= items[i]!) break
        swap(i, parent)
        i = parent
      }
    },
    peek: (): number | undefined => items[0],
    pop: () => {
      const last = items.pop()
      if (items.length === 0 || last === undefined) return
      items[0] = last
      for (let i = 0; ; ) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && items[l]! < items[m]!) m = l
        if (r < items.length && items[r]! < items[m]!) m = r
        if (m === i) break
        swap(i, m)
        i = m
      }
    },
    clear: () => void (items.length = 0)
  }
}

/** An entry's time: a known event's `ts` (the Schema checked it); an unknown event's is not trusted. */
const timeOf = (entry: Entry): number | undefined => (entry.type === "unknown" ? undefined : entry.ts)

/** Two entries at one `seq` are the same event if their type, time and turn agree. */
const sameEntry = (a: Entry, b: Entry) =>
  a.type === b.type &&
  (a.type === "unknown" ? a.eventType === (b as UnknownSessionEvent).eventType : a.ts === (b as { ts: number }).ts) &&
  (a as { turnId?: unknown }).turnId === (b as { turnId?: unknown }).turnId

/**
 * @param start the last `seq` already delivered (a resume), or undefined for a fresh join.
 * @param window how many out-of-order events to hold while waiting for a missing one; also how
 *   many delivered events are remembered to tell a duplicate from a rewritten log.
 */
export const make = (sessionId: string, start: number | undefined, window: number, report: Report): Sequencer => {
  let last = start
  /**
   * Set by a restart noticed from a later `ts`: the newest time of the old log. Events at or before
   * it are old copies (the re-read of a log that did not restart after all, if the gateway stamped
   * a replayed event anew): dropped, so nothing is delivered twice.
   */
  let oldLogUntil: number | undefined
  const pending = new Map<number, Held>()
  /** The held `seq`s, possibly with some already released (skipped when they surface). */
  const order = heap()
  /** The last delivered events, by `seq` modulo its size. */
  const recent: Array<Entry | undefined> = new Array(2 ** Math.ceil(Math.log2(Math.max(16, Math.min(window, 4096)))))
  const mask = recent.length - 1

  const earliest = (): number | undefined => {
    for (let seq = order.peek(); seq !== undefined; seq = order.peek()) {
      if (pending.has(seq)) return seq
      order.pop()
    }
    return undefined
  }

  const deliver = (event: Entry, seq: number, bytes: number, emit: Emit) => {
    last = seq
    recent[seq & mask] = event
    emit(event, bytes)
  }

  const flush = (emit: Emit) => {
    for (let next = pending.get(last! + 1); next !== undefined; next = pending.get(last! + 1)) {
      pending.delete(next.event.seq)
      deliver(next.event, next.event.seq, next.bytes, emit)
    }
  }

  /**
   * Delivers an event that is the next one in order (and what it releases); holds one past it,
   * and past `window` held, the earliest hole becomes a gap.
   */
  const hold = (event: Entry, seq: number, bytes: number, emit: Emit) => {
    if (seq === last! + 1) {
      deliver(event, seq, bytes, emit)
      if (pending.size > 0) flush(emit)
      return
    }
    pending.set(seq, { event, bytes })
    order.push(seq)
    while (pending.size > window) skipToEarliest(emit)
  }

  const skipToEarliest = (emit: Emit) => {
    const next = earliest()
    if (next === undefined || last === undefined) return
    emit({ type: "gap", sessionId, fromSeq: last + 1, toSeq: next - 1 }, itemBytes)
    last = next - 1
    flush(emit)
  }

  /**
   * The time of the newest delivered event still remembered that has a trusted one (a gap may have
   * moved `last` past it; an unknown event's time is not trusted).
   */
  const newestTime = (): number | undefined => {
    let seq = -1
    let time: number | undefined
    for (const entry of recent) {
      if (entry === undefined || entry.seq <= seq) continue
      const t = timeOf(entry)
      if (t !== undefined) {
        seq = entry.seq
        time = t
      }
    }
    return time
  }

  const reset = (seq: number, why: string, emit: Emit) => {
    report(
      "SessionReset",
      `session ${sessionId}: the gateway's log went back from seq ${last} to ${seq} (${why}); reset`
    )
    emit({ type: "reset", sessionId, previousSeq: last!, seq }, itemBytes)
    last = seq
    oldLogUntil = undefined
    pending.clear()
    order.clear()
    recent.fill(undefined)
  }

  return {
    lastSeq: () => last,
    held: () => pending.size,
    position: (seq, emit) => {
      if (last === undefined) {
        last = seq
        return false
      }
      if (seq >= last) return false
      // Everything in the gateway's log now is new to this client: continue from its start.
      reset(0, `the gateway says its log stands at ${seq}`, emit)
      return true
    },
    accept: (event, bytes, emit) => {
      // `seq` is read once: events come in many shapes, so each read is a megamorphic load.
      const { seq } = event
      if (last === undefined) {
        deliver(event, seq, bytes, emit)
        return false
      }
      if (oldLogUntil !== undefined) {
        const time = timeOf(event)
        if (time !== undefined && time <= oldLogUntil) {
          report(
            "StaleEvent",
            `session ${sessionId}: dropped a ${event.type} with seq ${seq} at ${time}, from before the log restarted (its newest event was at ${oldLogUntil})`
          )
          return false
        }
      }
      // The common case first: the next event in order (a stream snapshot there is one too).
      if (seq === last + 1) {
        deliver(event, seq, bytes, emit)
        if (pending.size > 0) flush(emit)
        return false
      }
      // A stream snapshot marks a position (the latest event its text includes): not a new entry.
      if (event.type === "stream_snapshot" && seq <= last) {
        if (seq === last) emit(event, bytes)
        return false
      }
      if (seq <= last) {
        if (pending.has(seq)) return false
        const seen = recent[seq & mask]
        const again = seen !== undefined && seen.seq === seq
        if (again && sameEntry(seen, event)) return false
        // Another event at a position already delivered (the log was rewritten under us), or one
        // older than any remembered but later than the newest delivered (a log's times do not go
        // back, a replay keeps them: not something delivered before): the log restarted (a
        // failover, with a gateway that does not say where its log stands, as the seeds' does
        // not). Where the new log stands is unknown: the session goes back to 0 and what the new
        // log holds before this event is fetched again (the caller re-joins from 0).
        const time = timeOf(event)
        const newest = time === undefined ? undefined : newestTime()
        const later = time !== undefined && newest !== undefined && time > newest
        if (again || later) {
          reset(
            0,
            again
              ? `seq ${seq} came again as another event`
              : `seq ${seq} came again at ${time}, after the last delivered event (at ${newest})`,
            emit
          )
          // What is not later than the old log's newest event is an old copy from here on (a
          // gateway that stamped a replayed event anew made it look new: the re-read of its log
          // then delivers nothing twice).
          if (later) oldLogUntil = newest
          hold(event, seq, bytes, emit)
          return true
        }
        report(
          "StaleEvent",
          `session ${sessionId}: dropped a ${event.type} with seq ${seq}, at or before the last delivered (${last}) and older than any remembered`
        )
        return false
      }
      if (!pending.has(seq)) hold(event, seq, bytes, emit)
      return false
    },
    gap: (gap, emit) => {
      if (last !== undefined && gap.toSeq <= last) return
      emit(gap, itemBytes)
      last = gap.toSeq
      for (const seq of [...pending.keys()]) if (seq <= gap.toSeq) pending.delete(seq)
      flush(emit)
    },
    settle: (emit) => {
      while (pending.size > 0) skipToEarliest(emit)
    }
  }
}

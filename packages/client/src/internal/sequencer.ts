/**
 * Per-session ordering of session events: drops duplicates, puts reordered events back in `seq`
 * order, and turns a hole that does not fill into an explicit gap. The client's promise to the
 * application (every session event exactly once, in order, or a gap) is kept here.
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

/** An entry of a session's log as the sequencer orders it. */
export type Entry = ServerEvent.SessionEvent | UnknownSessionEvent

/** What the application receives for one session: its events, in order, and gaps. */
export type SessionItem = Entry | ServerEvent.Gap

/** Receives what a sequencer releases, in order, with the size of the frame it came in. */
export type Emit = (item: SessionItem, bytes: number) => void

/** The size counted for a gap the client makes up itself. */
const gapBytes = 64

export interface Sequencer {
  /** The last `seq` delivered, if any: where a resume starts (`afterSeq`). */
  readonly lastSeq: () => number | undefined
  readonly accept: (event: Entry, bytes: number, emit: Emit) => void
  /** A gap announced by the gateway. */
  readonly gap: (gap: ServerEvent.Gap, emit: Emit) => void
  /** The replay after a (re)join has ended: a hole still open now will not fill. */
  readonly settle: (emit: Emit) => void
  /** Events held back waiting for a hole to fill. */
  readonly held: () => number
  /** Sets where the log stands when nothing was delivered yet (`state_snapshot.lastSeq`). */
  readonly baseline: (seq: number) => void
}

interface Held {
  readonly event: Entry
  readonly bytes: number
}

/**
 * @param start the last `seq` already delivered (a resume), or undefined for a fresh join.
 * @param window how many out-of-order events to hold while waiting for a missing one.
 */
export const make = (sessionId: string, start: number | undefined, window: number): Sequencer => {
  let last = start
  const pending = new Map<number, Held>()

  const flush = (emit: Emit) => {
    for (let next = pending.get(last! + 1); next !== undefined; next = pending.get(last! + 1)) {
      pending.delete(next.event.seq)
      last = next.event.seq
      emit(next.event, next.bytes)
    }
  }

  const skipToEarliest = (emit: Emit) => {
    if (pending.size === 0 || last === undefined) return
    const earliest = Math.min(...pending.keys())
    emit({ type: "gap", sessionId, fromSeq: last + 1, toSeq: earliest - 1 }, gapBytes)
    last = earliest - 1
    flush(emit)
  }

  return {
    lastSeq: () => last,
    held: () => pending.size,
    baseline: (seq) => {
      if (last === undefined) last = seq
    },
    accept: (event, bytes, emit) => {
      if (last === undefined) {
        last = event.seq
        return emit(event, bytes)
      }
      // A stream snapshot marks a position (the latest event its text includes): not a new entry.
      if (event.type === "stream_snapshot" && event.seq === last) return emit(event, bytes)
      if (event.seq <= last || pending.has(event.seq)) return
      if (event.seq === last + 1) {
        last = event.seq
        emit(event, bytes)
        if (pending.size > 0) flush(emit)
        return
      }
      pending.set(event.seq, { event, bytes })
      while (pending.size > window) skipToEarliest(emit)
    },
    gap: (gap, emit) => {
      if (last !== undefined && gap.toSeq <= last) return
      emit(gap, gapBytes)
      last = gap.toSeq
      for (const seq of [...pending.keys()]) if (seq <= gap.toSeq) pending.delete(seq)
      flush(emit)
    },
    settle: (emit) => {
      while (pending.size > 0) skipToEarliest(emit)
    }
  }
}

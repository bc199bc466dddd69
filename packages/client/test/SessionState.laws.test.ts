import type { ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as HashMap from "effect/HashMap"
import * as SessionState from "../src/SessionState.js"
import {
  canonical,
  type Entry,
  joinAt,
  joinedAtStart,
  log,
  seqOf,
  sessionId,
  throughJson
} from "./SessionStateArbitrary.js"

const counted = (ctx: { readonly task: { readonly meta: object } }) => {
  const meta = ctx.task.meta as { property?: boolean; cases?: number }
  meta.property = true
  meta.cases = (meta.cases ?? 0) + 1
}

const numRuns = 200

/** Each completed turn's text as the concatenation of its deltas, read from the log. */
const completedTexts = (entries: ReadonlyArray<Entry>) => {
  const texts = new Map<string, string>()
  const completed = new Set<string>()
  for (const entry of entries) {
    if (entry.type === "text_delta") texts.set(entry.turnId, (texts.get(entry.turnId) ?? "") + entry.text)
    if (entry.type === "turn_complete") completed.add(entry.turnId)
  }
  return [...completed].map((turnId) => [turnId, texts.get(turnId) ?? ""] as const)
}

/** After `turn_complete` a turn's text is the concatenation of its deltas, and so is its final text. */
const assertTurnTexts = (state: SessionState.SessionState, entries: ReadonlyArray<Entry>, completedFrom = 0) => {
  const completedSeen = new Set(
    entries.slice(completedFrom).flatMap((e) => (e.type === "turn_complete" ? [e.turnId] : []))
  )
  for (const [turnId, text] of completedTexts(entries)) {
    if (!completedSeen.has(turnId)) continue
    const turn = HashMap.unsafeGet(state.turns, turnId)
    assert.strictEqual(turn.status, "complete")
    assert.strictEqual(turn.text, text)
    assert.strictEqual(turn.finalText, text)
  }
}

const live = (entries: ReadonlyArray<Entry>) => SessionState.fold(joinedAtStart(entries), entries)

/**
 * What a client receives over reconnects: the log cut at each drop, each resume starting at or
 * before the cut (the replay overlaps what was applied), and some events delivered twice.
 */
const delivered = (
  entries: ReadonlyArray<Entry>,
  reconnects: ReadonlyArray<readonly [number, number]>,
  twice: ReadonlyArray<number>
): ReadonlyArray<Entry> => {
  const n = entries.length
  const cuts = reconnects.map(([cut, back]) => [cut % (n + 1), back] as const).sort(([a], [b]) => a - b)
  const out: Array<Entry> = []
  let from = 0
  for (const [cut, back] of cuts) {
    out.push(...entries.slice(from, Math.max(from, cut)))
    from = Math.max(0, cut - (back % (cut + 1)))
  }
  out.push(...entries.slice(from))
  const doubled = new Set(twice.map((i) => i % Math.max(1, out.length)))
  return out.flatMap((entry, i) => (doubled.has(i) ? [entry, entry] : [entry]))
}

describe("SessionState laws", () => {
  it.prop(
    "folding a replay (reconnects that resume at or before the last applied seq, events delivered twice) equals folding the live stream",
    [log, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 20 })), { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 })],
    ([entries, reconnects, twice], ctx) => {
      counted(ctx)
      const expected = live(entries)
      const replayed = delivered(entries, reconnects, twice)
      const state = SessionState.fold(joinedAtStart(entries), replayed)
      assert.deepStrictEqual(canonical(state), canonical(expected))
      assert.strictEqual(state.lastSeq, seqOf(entries[entries.length - 1]!))
      assert.deepStrictEqual(state.gaps, [])
      assertTurnTexts(state, entries)
      // A fresh fold of the whole log at once (a `get_events` replay) is the same state too.
      assert.deepStrictEqual(canonical(SessionState.fold(joinedAtStart(entries), entries)), canonical(expected))
    },
    { fastCheck: { numRuns } }
  )

  it.prop(
    "applying an already-applied seq is a no-op: the same state object comes back",
    [log, fc.nat(), fc.nat()],
    ([entries, at, pick], ctx) => {
      counted(ctx)
      const k = 1 + (at % entries.length)
      const state = SessionState.fold(joinedAtStart(entries), entries.slice(0, k))
      const again = entries[pick % k]!
      assert.strictEqual(SessionState.reduce(state, again), state)
      const gap: ServerEvent.Gap = { type: "gap", sessionId, fromSeq: seqOf(entries[0]!), toSeq: seqOf(again) }
      assert.strictEqual(SessionState.reduce(state, gap), state)
    },
    { fastCheck: { numRuns } }
  )

  it.prop(
    "splitting the stream anywhere and resuming from the state taken there (through its Schema, as JSON) gives the same state",
    [log, fc.nat()],
    ([entries, at], ctx) => {
      counted(ctx)
      const k = at % (entries.length + 1)
      const saved = throughJson(SessionState.fold(joinedAtStart(entries), entries.slice(0, k)))
      const state = SessionState.fold(saved, entries.slice(k))
      assert.deepStrictEqual(canonical(state), canonical(live(entries)))
      assertTurnTexts(state, entries)
    },
    { fastCheck: { numRuns } }
  )

  it.prop(
    "splitting the stream anywhere and resuming from the gateway's join snapshot there (with or without lastSeq and stream_snapshot) gives the same turns, status, sandbox and lastSeq",
    [log, fc.nat(), fc.boolean(), fc.boolean()],
    ([entries, at, lastSeq, streamSnapshot], ctx) => {
      counted(ctx)
      const k = at % (entries.length + 1)
      const { snapshot, after } = joinAt(entries, k, { lastSeq, streamSnapshot })
      const resumed = SessionState.fold(SessionState.fromSnapshot(snapshot), after)
      const expected = live(entries)
      // Without lastSeq (a seed gateway) and no event after the join, no seq is known yet.
      assert.strictEqual(resumed.lastSeq, lastSeq || after.length > 0 ? expected.lastSeq : null)
      assert.strictEqual(resumed.status, expected.status)
      assert.strictEqual(resumed.currentTurnId, expected.currentTurnId)
      const sandbox = (s: SessionState.SessionState) => s.sandbox && [s.sandbox.sandboxId, s.sandbox.status]
      assert.deepStrictEqual(sandbox(resumed), sandbox(expected))
      const startedAfter = new Set(
        entries.slice(k).flatMap((e) => (e.type === "turn_started" ? [e.turnId] : ([] as Array<string>)))
      )
      for (const turn of SessionState.turns(resumed)) {
        const whole = HashMap.unsafeGet(expected.turns, turn.turnId)
        if (startedAfter.has(turn.turnId)) {
          // A turn that started after the join is known whole.
          assert.deepStrictEqual(turn, whole)
          assert.deepStrictEqual(SessionState.toolCalls(resumed, turn), SessionState.toolCalls(expected, whole))
        } else {
          assert.isTrue(turn.partial)
          const { text, finalText, status, error } = whole
          assert.deepStrictEqual(
            { text: turn.text, finalText: turn.finalText, status: turn.status, error: turn.error },
            {
              text,
              finalText,
              status,
              error
            }
          )
        }
      }
      assertTurnTexts(resumed, entries, k)
    },
    { fastCheck: { numRuns } }
  )

  it.prop(
    "a gap in place of some events is recorded as such; the turns it cut into are partial, the turns after it whole",
    [log, fc.nat(), fc.nat()],
    ([entries, a, b], ctx) => {
      counted(ctx)
      const i = a % entries.length
      const j = i + 1 + (b % (entries.length - i))
      const fromSeq = seqOf(entries[i]!)
      const toSeq = seqOf(entries[j - 1]!)
      const gap: ServerEvent.Gap = { type: "gap", sessionId, fromSeq, toSeq }
      const state = SessionState.fold(joinedAtStart(entries), [...entries.slice(0, i), gap, ...entries.slice(j)])
      const expected = live(entries)
      assert.deepStrictEqual(state.gaps, [{ fromSeq, toSeq }])
      assert.strictEqual(state.lastSeq, expected.lastSeq)
      // Unless the gap swallowed a turn's end, the turn in progress is known as it is.
      if (!entries.slice(i, j).some((e) => e.type === "turn_complete" || e.type === "turn_error"))
        assert.strictEqual(state.currentTurnId, expected.currentTurnId)
      const before = SessionState.fold(joinedAtStart(entries), entries.slice(0, i))
      const startedAfter = new Set(
        entries.slice(j).flatMap((e) => (e.type === "turn_started" ? [e.turnId] : ([] as Array<string>)))
      )
      for (const turn of SessionState.turns(state)) {
        const open = SessionState.currentTurn(before)?.turnId === turn.turnId
        if (open) assert.isTrue(turn.partial, `turn ${turn.turnId} was in progress at the gap`)
        if (startedAfter.has(turn.turnId)) assert.deepStrictEqual(turn, HashMap.unsafeGet(expected.turns, turn.turnId))
      }
      // The same gap, inferred from the hole in seq when nobody announced it.
      const inferred = SessionState.fold(joinedAtStart(entries), [...entries.slice(0, i), ...entries.slice(j)])
      if (j < entries.length) assert.deepStrictEqual(canonical(inferred), canonical(state))
    },
    { fastCheck: { numRuns } }
  )
})

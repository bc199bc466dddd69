/**
 * The session log's ring (internal/sessions.ts): what a session costs is what its log holds, not
 * its `retention`. The cluster benchmark serves its gateway with retention 1,000,000 (so the check
 * against the gateway's log sees every event); a ring that allocated its capacity up front took
 * 8 MB per session, and 1,000 sessions ran the benchmark process out of memory. Measured by
 * counting the ring's slots, not the heap.
 */
import { Codec, type ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Sessions from "../src/internal/sessions.js"

let counter = 0
const entry = (seq: number, text = "x"): Sessions.Entry => {
  const event = { type: "text_delta", turnId: "turn-1", sessionId: "s", seq, ts: 0, text } as ServerEvent.SessionEvent
  return { event, frame: JSON.stringify(event) }
}
const seqs = (ring: Sessions.Ring) => [...ring].map((e) => e.event.seq)

describe("session log ring", () => {
  it("a session's log costs slots for what it holds, not for its retention", () => {
    const ring = new Sessions.Ring(1_000_000, 64 * 1024 * 1024)
    assert.strictEqual(ring.slots, 0)
    for (let seq = 1; seq <= 3; seq++) ring.push(entry(seq))
    assert.strictEqual(ring.slots, 16)
    for (let seq = 4; seq <= 1000; seq++) ring.push(entry(seq))
    assert.strictEqual(ring.size, 1000)
    assert.strictEqual(ring.slots, 1024)
    assert.deepStrictEqual(
      seqs(ring),
      Array.from({ length: 1000 }, (_, i) => i + 1)
    )
  })

  it("100 sessions at retention 1,000,000 hold 16 slots each after one event", () =>
    Effect.gen(function* () {
      const sessions = Sessions.make({
        codec: Codec.makeGatewayCodec({}),
        retention: 1_000_000,
        retentionBytes: 64 * 1024 * 1024,
        now: Effect.succeed(0),
        correlate: () => ({}),
        outgoing: (event) => event,
        newId: () => `sess-${++counter}`,
        historyChars: 1000
      })
      let slots = 0
      for (let i = 0; i < 100; i++) {
        const meta = yield* sessions.create("dev", "echo", undefined)
        const session = sessions.get(meta.id)!
        yield* sessions.emit(session, { type: "text_delta", turnId: "turn-1", text: "hi" })
        slots += session.log.slots
      }
      // 8 bytes a slot: 12.8 KB for the 100 sessions (it was 1,000,000 slots each: 800 MB).
      assert.strictEqual(slots, 1600)
    }).pipe(Effect.runSync))

  it("the ring keeps the last `capacity` entries, within `maxBytes`, oldest first", () => {
    const ring = new Sessions.Ring(5, 1_000_000)
    for (let seq = 1; seq <= 20; seq++) ring.push(entry(seq))
    assert.deepStrictEqual(seqs(ring), [16, 17, 18, 19, 20])
    assert.strictEqual(ring.slots, 5)
    const one = new Sessions.Ring(1, 1_000_000)
    for (let seq = 1; seq <= 3; seq++) one.push(entry(seq))
    assert.deepStrictEqual(seqs(one), [3])
    const frameChars = entry(1).frame.length
    const bytes = new Sessions.Ring(100, 3 * frameChars)
    for (let seq = 1; seq <= 9; seq++) bytes.push(entry(seq))
    assert.deepStrictEqual(seqs(bytes), [7, 8, 9])
    assert.strictEqual(bytes.bytes, 3 * frameChars)
  })

  it("slots shrink when the log is forgotten or cleared", () => {
    const ring = new Sessions.Ring(1_000_000, 64 * 1024 * 1024)
    for (let seq = 1; seq <= 4096; seq++) ring.push(entry(seq))
    assert.strictEqual(ring.slots, 4096)
    ring.dropWhile((e) => e.event.seq <= 4090)
    assert.deepStrictEqual(seqs(ring), [4091, 4092, 4093, 4094, 4095, 4096])
    assert.strictEqual(ring.slots, 16)
    ring.clear()
    assert.strictEqual(ring.slots, 0)
    assert.strictEqual(ring.bytes, 0)
  })

  it("property: the ring is the last entries of what was pushed, in at most 4x their slots", () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 1, max: 40 }), text: fc.string({ maxLength: 30 }) }),
      fc.record({ forget: fc.integer({ min: 0, max: 100 }) }),
      fc.constant({ clear: true as const })
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 20, max: 2000 }),
        fc.array(op, { maxLength: 40 }),
        (capacity, maxBytes, ops) => {
          const ring = new Sessions.Ring(capacity, maxBytes)
          let model: Array<Sessions.Entry> = []
          let seq = 0
          for (const o of ops) {
            if ("push" in o) {
              for (let i = 0; i < o.push; i++) {
                const e = entry(++seq, o.text)
                ring.push(e)
                model.push(e)
                if (model.length > capacity) model.shift()
                let bytes = model.reduce((n, m) => n + m.frame.length, 0)
                while (bytes > maxBytes && model.length > 1) bytes -= model.shift()!.frame.length
              }
            } else if ("forget" in o) {
              const limit = seq - o.forget
              ring.dropWhile((e) => e.event.seq <= limit)
              model = model.filter((e) => e.event.seq > limit)
            } else {
              ring.clear()
              model = []
            }
            assert.deepStrictEqual([...ring], model)
            assert.strictEqual(ring.size, model.length)
            assert.strictEqual(
              ring.bytes,
              model.reduce((n, m) => n + m.frame.length, 0)
            )
            assert.strictEqual(ring.first(), model[0])
            assert.isAtMost(ring.slots, Math.min(capacity, Math.max(16, 4 * model.length)))
          }
        }
      )
    )
  })
})

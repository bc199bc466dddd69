import * as v8 from "node:v8"
import * as vm from "node:vm"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { inMemory, overWs, watchSession } from "./harness.js"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

describe("adversarial: slow consumer", () => {
  it.scopedLive(
    "a subscriber that stops reading while 100,000 events arrive: bounded memory, SlowConsumer, others unaffected",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0, retention: 100 })
        const c = yield* client({ eventBuffer: 1000 })
        const session = yield* c.createSession("echo")
        yield* c.joinSession(session.id)
        // A subscriber that takes what has arrived, then stops reading until the gate opens.
        const gate = yield* Deferred.make<void>()
        const chunks: Array<number> = []
        const stalled = yield* (yield* c.subscribeSession(session.id)).pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.zipRight(
              Effect.sync(() => chunks.push(chunk.length)),
              Deferred.await(gate)
            )
          ),
          Effect.either,
          Effect.fork
        )
        const total = 100_000
        const reader = yield* (yield* c.subscribeSession(session.id)).pipe(
          Stream.filter((item) => item.type === "text_delta"),
          Stream.take(total),
          Stream.runCount,
          Effect.fork
        )
        gc()
        const heapBefore = process.memoryUsage().heapUsed
        yield* gateway.scriptNextTurn(
          session.id,
          Array.from({ length: total }, (_, i) => ({ type: "text_delta", text: `${i % 10}` }))
        )
        yield* c.runTurn(session.id, "flood")
        assert.strictEqual(yield* Fiber.join(reader), total)
        gc()
        const growth = process.memoryUsage().heapUsed - heapBefore
        // The stalled subscriber holds at most its buffer (1,000 events), not 100,000.
        assert.isBelow(growth, 10 * 1024 * 1024)
        yield* Deferred.succeed(gate, undefined)
        const outcome = yield* Fiber.join(stalled)
        const failure = Either.isLeft(outcome) ? outcome.left.reason : undefined
        assert.strictEqual(failure, "SlowConsumer")
        // What it had taken, then exactly its buffer's worth, then the failure.
        assert.strictEqual(chunks.length, 2)
        assert.strictEqual(chunks[1], 1000)
        assert.isAtLeast((yield* c.ping).latencyMs, 0)
      })
  )
})

describe("adversarial: session isolation", () => {
  it.scopedLive("an event for a session the client never joined reaches no session stream", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* overWs.setup()
      const c = yield* client()
      const { sessionId, items: mine } = yield* watchSession(c)
      const foreign = yield* c.sessionEvents("sess-intruder").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("20 millis")
      const [control] = yield* gateway.connections
      const inject = (sessionId: string, seq: number) =>
        control!.sendRaw(
          JSON.stringify({ type: "text_delta", sessionId, turnId: "evil", seq, ts: 1, text: "INJECTED" })
        )
      yield* inject("sess-intruder", 1)
      yield* inject(`${sessionId} `, 2)
      yield* c.runTurn(sessionId, "hello")
      const items = Chunk.toReadonlyArray(yield* Fiber.join(mine))
      assert.isFalse(items.some((item) => item.type === "text_delta" && item.text === "INJECTED"))
      assert.isTrue(items.every((item) => item.sessionId === sessionId))
      assert.isNull(yield* Fiber.poll(foreign).pipe(Effect.map((o) => (o._tag === "None" ? null : o))))
    })
  )
})

describe("adversarial: large payloads and unicode, end to end", () => {
  let deep: unknown = "leaf"
  for (let i = 0; i < 1000; i++) deep = { child: deep }
  const megabyte = "a\u00e9\u4e2d😀".repeat((1024 * 1024) / 10)
  const unicode = [
    "👋🏽 family: 👨‍👩‍👧‍👦 flag: 🇯🇵",
    "中文字符 日本語のテキスト 한국어",
    "مرحبا بالعالم שלום עולם",
    "e\u0301 a\u0308 Z\u0351\u0368",
    "a\u200bb\u200cc\u200dd\ufeffe",
    "𝒳𝓎𝓏 𐍈 🀄",
    "lone \ud800 surrogate"
  ]
  const sessions = Array.from({ length: 10_000 }, (_, i) => ({
    id: `s-${i}`,
    tenantId: "t",
    name: null,
    agentType: "echo",
    status: "ready",
    archived: false,
    createdAt: i,
    updatedAt: i,
    lastActivityAt: null
  }))
  const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
    ["a 1 MB text field", { type: "future_text", text: megabyte }],
    ["tool args nested 1,000 levels deep", { type: "future_tool", args: deep }],
    ["10,000 sessions in a list", { type: "session_list", sessions }],
    ...unicode.map((text, i): readonly [string, Record<string, unknown>] => [
      `unicode sample ${i}`,
      { type: "future_text", text }
    ])
  ]

  for (const harness of [inMemory, overWs]) {
    it.scopedLive(`${harness.name}: each arrives whole and byte-exact`, ({ task }) =>
      Effect.gen(function* () {
        Object.assign(task.meta, { table: "large and unicode payloads end to end", rows: cases.length })
        const { client, gateway } = yield* harness.setup({ heartbeatIntervalMs: 0 })
        const c = yield* client()
        const received = yield* c.events.pipe(
          Stream.filter((e) => e.type === "unknown" || e.type === "session_list"),
          Stream.take(cases.length),
          Stream.runCollect,
          Effect.fork
        )
        yield* Effect.sleep("10 millis")
        const [control] = yield* gateway.connections
        for (const [, payload] of cases) yield* control!.sendRaw(JSON.stringify(payload))
        const events = Chunk.toReadonlyArray(yield* Fiber.join(received))
        cases.forEach(([name, payload], i) => {
          const event = events[i]!
          const got = event.type === "unknown" ? event.payload : event
          assert.strictEqual(JSON.stringify(got), JSON.stringify(payload), name)
        })
      })
    )
  }
})

import { Codec, ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { expectWholeEchoTurn, inMemory, overWs, watchEchoTurn } from "./harness.js"

const counted = (ctx: { readonly task: { readonly meta: object } }) => {
  const meta = ctx.task.meta as { property?: boolean; cases?: number }
  meta.property = true
  meta.cases = (meta.cases ?? 0) + 1
}

type Op =
  | { readonly kind: "ping" }
  | { readonly kind: "read"; readonly path: string }
  | { readonly kind: "list" }
  | { readonly kind: "history" }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ kind: "ping" } as const),
  fc.constantFrom("src/add.ts", "test/add.test.ts", "missing.ts").map((path) => ({ kind: "read", path }) as const),
  fc.constant({ kind: "list" } as const),
  fc.constant({ kind: "history" } as const)
)

describe("client properties", () => {
  it.scopedLive.prop(
    "any mix of requests in flight resolves each to its own reply, out-of-order replies included",
    [
      fc.array(op, { minLength: 1, maxLength: 40 }),
      fc.boolean(),
      fc.subarray(["pong", "file_content", "session_list", "history", "error"]),
      fc.integer({ min: 1, max: 15 })
    ],
    ([ops, requestIds, delayed, delayMs], ctx) =>
      Effect.gen(function* () {
        counted(ctx)
        const { client, gateway } = yield* inMemory.setup({ requestIds, heartbeatIntervalMs: 0 })
        const c = yield* client()
        const session = yield* c.createSession("coding-agent")
        yield* c.turn(session.id, "go").pipe(
          Stream.tap((item) =>
            item.type === "question_requested" || item.type === "permission_requested"
              ? c.answerQuestion(session.id, item.requestId, {})
              : Effect.void
          ),
          Stream.runDrain
        )
        for (const type of delayed) yield* gateway.faults.delay(type, delayMs)
        const results = yield* Effect.forEach(
          ops,
          (o) => {
            switch (o.kind) {
              case "ping":
                return Effect.map(c.ping, () => "pong")
              case "read":
                return c.readFile(session.id, o.path).pipe(
                  Effect.map((reply) => `file:${reply.path}`),
                  Effect.catchAll((error) => Effect.succeed(`error:${error.code}`))
                )
              case "list":
                return Effect.map(c.listSessions(), (sessions) => `sessions:${sessions.length}`)
              case "history":
                return Effect.map(c.getHistory({ sessionId: session.id }), (messages) => `history:${messages.length}`)
            }
          },
          { concurrency: "unbounded" }
        )
        const expected = ops.map((o) =>
          o.kind === "ping"
            ? "pong"
            : o.kind === "read"
              ? o.path === "missing.ts"
                ? "error:FILE_NOT_FOUND"
                : `file:${o.path}`
              : o.kind === "list"
                ? "sessions:1"
                : "history:2"
        )
        assert.deepStrictEqual(results, expected)
      }),
    { fastCheck: { numRuns: 25 } }
  )

  it.scopedLive.prop(
    "for any schedule of drops during a streaming turn (during auth and replay too), the session stream has every event once, in order, and no request hangs",
    [
      fc.array(
        fc.record({
          afterMs: fc.integer({ min: 0, max: 25 }),
          code: fc.constantFrom(undefined, 1001, 1011, 1012, 4000)
        }),
        { minLength: 1, maxLength: 4 }
      ),
      // Slow handshakes and replays widen the windows in which a drop lands during authentication
      // or during the replay after a re-join.
      fc.integer({ min: 0, max: 8 }),
      fc.integer({ min: 0, max: 8 })
    ],
    ([drops, authDelayMs, replayDelayMs], ctx) =>
      Effect.gen(function* () {
        counted(ctx)
        const user = { token: "chaos-token", identity: { userId: "u", email: "u@chaos", tenantId: "t" } }
        const { client, gateway } = yield* inMemory.setup({ agentStepMs: 1, heartbeatIntervalMs: 0, users: [user] })
        yield* gateway.faults.delay("authenticated", authDelayMs)
        yield* gateway.faults.delay("replay_complete", replayDelayMs)
        const attempts: Array<number> = []
        const c = yield* client({
          token: Redacted.make(user.token),
          reconnectSchedule: Schedule.spaced("3 millis").pipe(
            Schedule.tapOutput(() => Effect.sync(() => attempts.push(performance.now())))
          )
        })
        const turn = yield* watchEchoTurn(c, 40)
        for (const drop of drops) {
          yield* Effect.sleep(`${drop.afterMs} millis`)
          const [control] = yield* gateway.connections
          if (control !== undefined) yield* control.drop(drop.code)
        }
        yield* expectWholeEchoTurn(gateway, turn)
        assert.isAtLeast((yield* c.ping.pipe(Effect.timeout("5 seconds"))).latencyMs, 0)
        // Reconnect attempts follow the schedule: never closer together than its 3 ms spacing.
        assert.isAtMost(attempts.length, drops.length * 3 + 3, "no reconnect storm")
        for (let i = 1; i < attempts.length; i++) assert.isAtLeast(attempts[i]! - attempts[i - 1]!, 2.9)
      }),
    { fastCheck: { numRuns: 15 } }
  )
})

describe("client properties: malformed server data", () => {
  // server_shutdown is left out: a valid one rightly makes the client reconnect.
  const knownEvent = fc.oneof(
    ...ServerEvent.knownMembers
      .filter((m) => m !== ServerEvent.ServerShutdown)
      .map((m: Schema.Schema<any, any>) => Arbitrary.make(m))
  )
  const wrongValue = fc.oneof(
    fc.constantFrom(null, true, -1, 0.5, 2 ** 53, "", "x", [], {}),
    fc.jsonValue({ maxDepth: 1 })
  )

  for (const [harness, numRuns] of [
    [inMemory, 150],
    [overWs, 60]
  ] as const)
    it.scopedLive.prop(
      `${harness.name}: any event with any field given a wrong value or removed: the connection survives, the frame is reported or accepted exactly as the codec says, and the next valid event arrives`,
      [knownEvent, fc.nat(), wrongValue, fc.boolean()],
      ([event, pick, value, remove], ctx) =>
        Effect.gen(function* () {
          counted(ctx)
          const { client, gateway } = yield* harness.setup({ heartbeatIntervalMs: 0 })
          const c = yield* client()
          const wire = JSON.parse(JSON.stringify(event)) as Record<string, unknown>
          const keys = Object.keys(wire).filter((k) => k !== "type")
          if (keys.length > 0) {
            const key = keys[pick % keys.length]!
            if (remove) delete wire[key]
            else wire[key] = value
          }
          const frame = JSON.stringify(wire)
          const verdict = Codec.client.decode(frame)
          const diagnostics = yield* c.diagnostics.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
          const marker = yield* c.eventsOf("unknown").pipe(
            Stream.filter((e) => e.eventType === "marker"),
            Stream.take(1),
            Stream.runCollect,
            Effect.fork
          )
          yield* Effect.sleep("5 millis")
          const [control] = yield* gateway.connections
          yield* control!.sendRaw(frame)
          yield* control!.sendRaw('{"type":"marker"}')
          assert.strictEqual(Chunk.size(yield* Fiber.join(marker)), 1)
          if (verdict._tag === "Left") {
            const report = Chunk.unsafeHead(yield* Fiber.join(diagnostics))
            assert.deepStrictEqual([report.reason, report.message], [verdict.left.reason, verdict.left.message])
          } else {
            yield* Fiber.interrupt(diagnostics)
          }
          assert.strictEqual((yield* c.state.get)._tag, "Connected")
        }),
      { fastCheck: { numRuns } }
    )
})

import type { ServerEvent } from "@diminuendo/protocol"
import type { Gateway } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Subscribable from "effect/Subscribable"
import * as Supervisor from "effect/Supervisor"
import type * as GatewayClient from "../src/GatewayClient.js"
import type { GatewayError } from "../src/GatewayError.js"
import * as Cell from "../src/internal/sessionStateCell.js"
import * as SessionState from "../src/SessionState.js"
import { harnesses, inMemory } from "./harness.js"
import { canonical } from "./SessionStateArbitrary.js"

type Tracked = Subscribable.Subscribable<SessionState.SessionState, GatewayError>

/** The testkit coding agent's answers: `runner` for its question, `decision` for its permission request. */
const answerFor = (request: SessionState.Request) =>
  request.kind === "question" ? { runner: "vitest" } : { decision: "approve" }

/**
 * Answers a request while the state shows it pending. A drop can lose the answer or its
 * confirmation, so it is sent again until the state shows the request resolved (a repeat the
 * gateway already took fails with QUESTION_NOT_FOUND, and the state then shows it resolved).
 */
const answerWhilePending = (
  client: GatewayClient.GatewayClient,
  tracked: Tracked,
  sessionId: string,
  request: SessionState.Request
) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 50; attempt++) {
      const state = yield* tracked.get
      if (!SessionState.pendingRequests(state).some((r) => r.requestId === request.requestId)) return
      yield* Effect.ignore(client.answerQuestion(sessionId, request.requestId, answerFor(request)))
      yield* Effect.sleep("20 millis")
    }
  })

const turnDone = (state: SessionState.SessionState, turnId: string) => {
  const turn = HashMap.get(state.turns, turnId)
  return Option.isSome(turn) && (turn.value.status === "complete" || turn.value.status === "failed")
}

/** Waits until the tracked state has applied everything in the gateway's log. */
const caughtUp = (tracked: Tracked, gateway: Gateway.Gateway, sessionId: string) =>
  Effect.gen(function* () {
    const log = yield* gateway.sessionLog(sessionId)
    const last = log[log.length - 1]!.seq
    const state = yield* tracked.changes.pipe(
      Stream.filter((s) => s.lastSeq !== null && s.lastSeq >= last),
      Stream.runHead,
      Effect.timeout("10 seconds")
    )
    return { state: Option.getOrThrow(state), log }
  })

/** Drops the gateway's (only) connection once for each stage the state reaches. */
const dropAtStages = (gateway: Gateway.Gateway) => {
  const stages: ReadonlyArray<
    readonly [string, (turn: SessionState.Turn, state: SessionState.SessionState) => boolean]
  > = [
    ["thinking", (turn) => turn.thinking !== ""],
    ["text", (turn) => turn.text !== ""],
    ["tool call arguments", (turn, state) => SessionState.toolCalls(state, turn).some((c) => c.argsText !== "")],
    ["after the question", (_, state) => state.requests.some((r) => r.kind === "question" && r.resolution !== null)],
    ["terminal output", (turn, state) => SessionState.toolCalls(state, turn).some((c) => c.terminal.output !== "")]
  ]
  const done = new Set<string>()
  const drop = (state: SessionState.SessionState) =>
    Effect.gen(function* () {
      const turn = SessionState.currentTurn(state)
      if (turn === undefined) return
      for (const [stage, reached] of stages) {
        if (done.has(stage) || !reached(turn, state)) continue
        done.add(stage)
        const [control] = yield* gateway.connections
        if (control !== undefined) yield* control.drop()
      }
    })
  return { drop, stages: () => [...done] }
}

/** Waits until the tracked state shows the turn complete (or failed). */
const turnEnded = (tracked: Tracked, turnId: string) =>
  tracked.changes.pipe(
    Stream.filter((s) => turnDone(s, turnId)),
    Stream.runHead,
    Effect.timeout("10 seconds")
  )

for (const harness of harnesses) {
  describe(`SessionState.track ${harness.name}`, () => {
    it.scopedLive(
      "a coding-agent turn with the connection dropped at five points ends in the state the gateway's own log folds to; the question and permission are answered from the state",
      () =>
        Effect.gen(function* () {
          const { gateway, client } = yield* harness.setup({ agentStepMs: 2, heartbeatIntervalMs: 0 })
          const c = yield* client({ reconnectSchedule: Schedule.spaced("5 millis") })
          const session = yield* c.createSession("coding-agent")
          const tracked = yield* SessionState.track(c, session.id)
          const initial = yield* tracked.get
          // A seed gateway's snapshot has no `lastSeq`: the position is unknown until the first event.
          assert.deepStrictEqual(
            [initial.lastSeq, initial.session?.id, initial.status],
            [harness.profile === "full" ? 0 : null, session.id, "ready"]
          )
          const answering = new Set<string>()
          const drops = dropAtStages(gateway)
          const driver = yield* tracked.changes.pipe(
            Stream.tap((state) =>
              Effect.gen(function* () {
                for (const request of SessionState.pendingRequests(state)) {
                  if (answering.has(request.requestId)) continue
                  answering.add(request.requestId)
                  yield* Effect.fork(answerWhilePending(c, tracked, session.id, request))
                }
                yield* drops.drop(state)
              })
            ),
            Stream.takeUntil((state) => state.turnIds.length > 0 && turnDone(state, state.turnIds[0]!)),
            Stream.runDrain,
            Effect.timeout("20 seconds"),
            Effect.fork
          )
          const started = yield* c.runTurn(session.id, "Add add() with a test")
          yield* Fiber.join(driver)
          const { state, log } = yield* caughtUp(tracked, gateway, session.id)
          assert.deepStrictEqual(drops.stages(), [
            "thinking",
            "text",
            "tool call arguments",
            "after the question",
            "terminal output"
          ])
          assert.deepStrictEqual(canonical(state), canonical(SessionState.fold(initial, log)))
          assert.deepStrictEqual(state.gaps, [])
          const turn = HashMap.unsafeGet(state.turns, started.turnId)
          const complete = log.find((e): e is ServerEvent.TurnComplete => e.type === "turn_complete")!
          assert.deepStrictEqual(
            [turn.status, turn.text, turn.finalText],
            ["complete", complete.finalText, complete.finalText]
          )
          assert.isFalse(turn.partial)
          const results = log.filter((e): e is ServerEvent.ToolResult => e.type === "tool_result")
          assert.deepStrictEqual(
            SessionState.toolCalls(state, turn).map((call) => [call.toolCallId, call.status, call.result?.output]),
            results.map((r) => [r.toolCallId, "completed", r.output])
          )
          // A seed gateway's approval_resolved does not say how it ended.
          assert.deepStrictEqual(
            state.requests.map((r) => [r.kind, r.resolution]),
            harness.profile === "full"
              ? [
                  ["question", "answered"],
                  ["permission", "approved"]
                ]
              : [
                  ["question", "resolved"],
                  ["permission", "resolved"]
                ]
          )
          assert.include(SessionState.toolCalls(state, turn).at(-1)!.terminal.output, "1 passed")
        })
    )

    it.scopedLive(
      "a second client that starts tracking mid-turn (its snapshot arriving with the events after it) ends with the same turn text, status and lastSeq, and no gap",
      () =>
        Effect.gen(function* () {
          const { gateway, client } = yield* harness.setup({ agentStepMs: 2, heartbeatIntervalMs: 0 })
          const first = yield* client()
          const second = yield* client()
          const session = yield* first.createSession("echo")
          const trackedFirst = yield* SessionState.track(first, session.id)
          const words = Array.from({ length: 60 }, (_, i) => `w${i}`).join(" ")
          const started = yield* first.runTurn(session.id, words)
          yield* trackedFirst.changes.pipe(
            Stream.filter((s) => (SessionState.currentTurn(s)?.text.length ?? 0) > 20),
            Stream.runHead
          )
          // Held back, the snapshot reaches the client together with the events that followed it:
          // tracking must be subscribed before it joins, or those events are lost.
          yield* gateway.faults.delay("state_snapshot", 30)
          const trackedSecond = yield* SessionState.track(second, session.id)
          const joined = yield* trackedSecond.get
          assert.isTrue(HashMap.unsafeGet(joined.turns, started.turnId).partial)
          yield* turnEnded(trackedFirst, started.turnId)
          yield* Effect.sleep("20 millis")
          const a = yield* caughtUp(trackedFirst, gateway, session.id)
          const b = yield* caughtUp(trackedSecond, gateway, session.id)
          const pick = (s: SessionState.SessionState) => {
            const t = HashMap.unsafeGet(s.turns, started.turnId)
            return [t.status, t.text, t.finalText, s.status, s.lastSeq, s.currentTurnId]
          }
          assert.deepStrictEqual(pick(b.state), pick(a.state))
          assert.deepStrictEqual(b.state.gaps, [])
          assert.strictEqual(HashMap.unsafeGet(b.state.turns, started.turnId).text, `Echo: ${words}`)
        })
    )
  })
}

describe("client.sessionState", () => {
  it.scopedLive(
    "the client's own method tracks a coding-agent turn answered from its state: `get` reads the current state at once, before, during and after the turn, and the states end in the fold of the gateway's log",
    () =>
      Effect.gen(function* () {
        const { gateway, client } = yield* inMemory.setup({ agentStepMs: 2, heartbeatIntervalMs: 0 })
        const c = yield* client()
        const session = yield* c.createSession("coding-agent")
        const tracked = yield* c.sessionState(session.id)
        const initial = yield* tracked.get
        assert.deepStrictEqual(
          [initial.lastSeq, initial.session?.id, initial.status, initial.turnIds],
          [0, session.id, "ready", []]
        )
        const answered: Array<string> = []
        const seen = yield* tracked.changes.pipe(
          Stream.tap((state) =>
            Effect.gen(function* () {
              // `get` does not wait for anything: it is this state or a newer one.
              const now = yield* tracked.get
              assert.isAtLeast(now.lastSeq ?? 0, state.lastSeq ?? 0)
              for (const request of SessionState.pendingRequests(state)) {
                if (answered.includes(request.requestId)) continue
                answered.push(request.requestId)
                yield* Effect.fork(c.answerQuestion(session.id, request.requestId, answerFor(request)))
              }
            })
          ),
          // The session's `session_state` ready follows `turn_complete`: the last event of the turn.
          Stream.takeUntil((s) => s.turnIds.length > 0 && turnDone(s, s.turnIds[0]!) && s.status === "ready"),
          Stream.runCollect,
          Effect.timeout("20 seconds"),
          Effect.fork
        )
        const started = yield* c.runTurn(session.id, "Add add() with a test")
        const states = Chunk.toReadonlyArray(yield* Fiber.join(seen))
        const log = yield* gateway.sessionLog(session.id)
        const last = states.at(-1)!
        assert.isTrue(turnDone(last, started.turnId), "the states reach the end of the turn")
        assert.strictEqual(last.lastSeq, log.at(-1)!.seq)
        assert.deepStrictEqual(canonical(last), canonical(SessionState.fold(initial, log)))
        assert.strictEqual(yield* tracked.get, last)
        assert.isTrue(
          states.every((s, i) => i === 0 || (s.lastSeq ?? 0) >= (states[i - 1]!.lastSeq ?? 0)),
          "each state is as new as the one before it"
        )
        assert.isTrue(
          states.some((s) => HashMap.get(s.turns, started.turnId).pipe(Option.exists((t) => t.status === "running"))),
          "the turn was seen running"
        )
        const turn = HashMap.unsafeGet(last.turns, started.turnId)
        const complete = log.find((e): e is ServerEvent.TurnComplete => e.type === "turn_complete")!
        assert.deepStrictEqual(
          [turn.status, turn.text, turn.finalText],
          ["complete", complete.finalText, complete.finalText]
        )
        assert.strictEqual(answered.length, 2)
        assert.deepStrictEqual(
          last.requests.map((r) => [r.kind, r.resolution]),
          [
            ["question", "answered"],
            ["permission", "approved"]
          ]
        )
        assert.deepStrictEqual(last.gaps, [])
      })
  )
})

describe("SessionState.track", () => {
  it.scopedLive(
    "events the gateway no longer has when the client re-joins show as a gap; the turn is partial and still completes",
    () =>
      Effect.gen(function* () {
        const { gateway, client } = yield* inMemory.setup({ agentStepMs: 2, heartbeatIntervalMs: 0 })
        const c = yield* client({ reconnectSchedule: Schedule.spaced("80 millis") })
        const session = yield* c.createSession("echo")
        const tracked = yield* SessionState.track(c, session.id)
        const words = Array.from({ length: 80 }, (_, i) => `w${i}`).join(" ")
        const started = yield* c.runTurn(session.id, words)
        yield* tracked.changes.pipe(
          Stream.filter((s) => (SessionState.currentTurn(s)?.text.length ?? 0) > 10),
          Stream.runHead
        )
        const [control] = yield* gateway.connections
        yield* control!.drop()
        yield* Effect.sleep("30 millis")
        yield* gateway.forgetEvents(session.id)
        yield* turnEnded(tracked, started.turnId)
        yield* Effect.sleep("20 millis")
        const { state, log } = yield* caughtUp(tracked, gateway, session.id)
        assert.strictEqual(state.gaps.length, 1)
        const gap = state.gaps[0]!
        assert.isBelow(gap.fromSeq, log[0]!.seq)
        assert.strictEqual(gap.toSeq, log[0]!.seq - 1)
        const turn = HashMap.unsafeGet(state.turns, started.turnId)
        assert.deepStrictEqual([turn.status, turn.partial, turn.finalText], ["complete", true, `Echo: ${words}`])
        assert.notStrictEqual(turn.text, turn.finalText, "the deltas in the gap are missing from the streamed text")
      })
  )

  it.scopedLive(
    "tracking a session that does not exist fails with the gateway's error and leaves no fiber running",
    () =>
      Effect.gen(function* () {
        const { client } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
        const c = yield* client()
        const supervisor = yield* Supervisor.track
        const exit = yield* SessionState.track(c, "nope").pipe(
          Effect.scoped,
          Effect.supervised(supervisor),
          Effect.exit
        )
        assert.deepStrictEqual(
          Exit.isFailure(exit) ? Option.map(Cause.failureOption(exit.cause), (e) => [e.reason, e.code]) : Option.none(),
          Option.some(["ServerError", "SESSION_NOT_FOUND"])
        )
        yield* Effect.sleep("10 millis")
        assert.deepStrictEqual(yield* supervisor.value, [])
      })
  )

  it.scopedLive("when the client closes, the changes stream ends with the latest state", () =>
    Effect.gen(function* () {
      const { client } = yield* inMemory.setup({ agentStepMs: 1, heartbeatIntervalMs: 0 })
      const clientScope = yield* Scope.make()
      const c = yield* Scope.extend(client(), clientScope)
      const session = yield* c.createSession("echo")
      const tracked = yield* Scope.extend(SessionState.track(c, session.id), clientScope)
      const all = yield* tracked.changes.pipe(Stream.runCollect, Effect.fork)
      yield* c.turn(session.id, "one two three").pipe(Stream.runDrain)
      const latest = yield* tracked.get
      yield* Scope.close(clientScope, Exit.void)
      const states = Chunk.toReadonlyArray(yield* Fiber.join(all).pipe(Effect.timeout("5 seconds")))
      assert.strictEqual(states.at(-1), latest)
      assert.strictEqual(SessionState.turns(latest)[0]?.finalText, "Echo: one two three")
    })
  )
})

describe("the latest-state cell", () => {
  it.effect(
    "a reader that does not pull while 10,000 values are set gets the one it had, then the latest: it holds one value",
    () =>
      Effect.gen(function* () {
        const cell = Cell.make<number, never>(0)
        const pull = yield* Stream.toPull(cell.changes)
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [0])
        for (let i = 1; i <= 10_000; i++) cell.set(i)
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [10_000])
        cell.set(10_001)
        cell.end(Exit.void)
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [10_001])
        assert.deepStrictEqual(yield* Effect.exit(pull), Exit.fail(Option.none()))
      }).pipe(Effect.scoped)
  )

  it.effect("a writer's failure ends every reader with it, after the latest value", () =>
    Effect.gen(function* () {
      const cell = Cell.make<number, string>(1)
      const reader = yield* cell.changes.pipe(Stream.runCollect, Effect.either, Effect.fork)
      yield* Effect.yieldNow()
      cell.set(2)
      cell.end(Exit.fail("boom"))
      const result = yield* Fiber.join(reader)
      assert.deepStrictEqual(result._tag === "Left" && result.left, "boom")
    })
  )
})

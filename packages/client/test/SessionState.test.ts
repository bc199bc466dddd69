import { ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as HashMap from "effect/HashMap"
import * as Schema from "effect/Schema"
import * as SessionState from "../src/SessionState.js"
import { meta } from "./SessionStateArbitrary.js"

const sessionId = meta.id
const turnId = "turn-1"
let seq = 0
let ts = 1_000

/** A session event of this session with the next seq. */
const ev = <T extends ServerEvent.SessionEvent["type"]>(
  type: T,
  fields: Omit<ServerEvent.ByType<T>, "type" | "sessionId" | "seq" | "ts">
): ServerEvent.SessionEvent =>
  ({ type, sessionId, seq: ++seq, ts: (ts += 10), ...fields }) as unknown as ServerEvent.SessionEvent

const snapshot = (fields: Partial<ServerEvent.StateSnapshot> = {}): ServerEvent.StateSnapshot => ({
  type: "state_snapshot",
  sessionId,
  session: meta,
  currentTurn: null,
  recentHistory: [],
  subscriberCount: 1,
  sandbox: null,
  lastSeq: seq,
  ...fields
})

const turnOf = (state: SessionState.SessionState, id = turnId) => HashMap.unsafeGet(state.turns, id)
const callOf = (state: SessionState.SessionState, id: string) => HashMap.unsafeGet(state.toolCalls, id)

describe("SessionState", () => {
  it("folds a coding-agent turn: text and its parts, thinking apart, tool calls with streamed arguments, terminal output, the question and permission until resolved, usage, files, sandbox, context", () => {
    seq = 0
    let state = SessionState.fromSnapshot(snapshot({ lastSeq: 0 }))
    const step = (event: ServerEvent.SessionEvent) => (state = SessionState.reduce(state, event))
    step(ev("sandbox_init", { sandboxId: "sb" }))
    step(ev("sandbox_provisioning", { sandboxId: "sb", progress: 0.5, message: "Installing" }))
    assert.deepStrictEqual(state.sandbox, {
      sandboxId: "sb",
      status: "provisioning",
      progress: 0.5,
      message: "Installing",
      reason: null
    })
    step(ev("sandbox_ready", { sandboxId: "sb" }))
    step(ev("turn_started", { turnId, clientTurnId: "c-1" }))
    step(ev("session_state", { status: "running" }))
    step(ev("thinking_start", { turnId }))
    step(ev("thinking_progress", { turnId, text: "Reading. " }))
    assert.isTrue(turnOf(state).thinkingActive)
    step(ev("thinking_progress", { turnId, text: "Planning." }))
    step(ev("thinking_complete", { turnId }))
    step(ev("text_delta", { turnId, text: "Let me " }))
    step(ev("text_delta", { turnId, text: "look. " }))
    step(ev("tool_call_start", { turnId, toolCallId: "t1", toolName: "read_file" }))
    step(ev("tool_call_delta", { turnId, toolCallId: "t1", delta: '{"path":' }))
    assert.strictEqual(callOf(state, "t1").status, "pending")
    assert.strictEqual(callOf(state, "t1").argsText, '{"path":')
    step(ev("tool_call_delta", { turnId, toolCallId: "t1", delta: '"a.ts"}' }))
    step(ev("tool_call", { turnId, toolCallId: "t1", toolName: "read_file", args: { path: "a.ts" } }))
    assert.strictEqual(callOf(state, "t1").status, "running")
    step(ev("tool_result", { turnId, toolCallId: "t1", status: "success", output: { content: "x" } }))
    step(ev("question_requested", { turnId, requestId: "q1", questions: [{ id: "runner", prompt: "Which?" }] }))
    assert.strictEqual(turnOf(state).status, "waiting")
    assert.deepStrictEqual(
      SessionState.pendingRequests(state).map((r) => r.requestId),
      ["q1"]
    )
    step(ev("approval_resolved", { requestId: "q1", resolution: "answered" }))
    assert.strictEqual(turnOf(state).status, "running")
    assert.deepStrictEqual(SessionState.pendingRequests(state), [])
    step(ev("text_delta", { turnId, text: "Using vitest. " }))
    step(ev("file_changed", { path: "src/add.ts", change: "created", iteration: 1 }))
    step(
      ev("permission_requested", { turnId, requestId: "p1", toolName: "run", description: "Run tests", args: { c: 1 } })
    )
    assert.strictEqual(turnOf(state).status, "waiting")
    step(ev("approval_resolved", { requestId: "p1", resolution: "approved" }))
    step(ev("tool_call_start", { turnId, toolCallId: "t2", toolName: "run_command" }))
    step(ev("tool_call", { turnId, toolCallId: "t2", toolName: "run_command", args: { command: "npx vitest" } }))
    step(ev("terminal_stream", { turnId, data: "$ npx vitest\n" }))
    step(ev("terminal_stream", { turnId, data: "ok\n" }))
    step(ev("terminal_complete", { turnId, exitCode: 0 }))
    step(ev("tool_error", { turnId, toolCallId: "t2", error: "flaky" }))
    step(ev("terminal_stream", { turnId, data: "after the call\n" }))
    step(ev("usage_update", { turnId, inputTokens: 100, outputTokens: 20, cacheReadTokens: 5, costUsd: 0.5 }))
    step(ev("usage_update", { turnId, inputTokens: 1, outputTokens: 2, cacheWriteTokens: 3 }))
    step(ev("usage_context", { usedTokens: 120, maxTokens: 1000 }))
    step(ev("steer_sent", { content: "hurry" }))
    step(ev("text_delta", { turnId, text: "Done." }))
    step(ev("turn_complete", { turnId, finalText: "Let me look. Using vitest. Done." }))
    step(ev("session_state", { status: "ready" }))

    const turn = turnOf(state)
    assert.strictEqual(turn.status, "complete")
    assert.strictEqual(turn.clientTurnId, "c-1")
    assert.strictEqual(turn.text, "Let me look. Using vitest. Done.")
    assert.strictEqual(turn.finalText, turn.text)
    assert.strictEqual(turn.thinking, "Reading. Planning.")
    assert.isFalse(turn.thinkingActive)
    assert.isFalse(turn.partial)
    assert.deepStrictEqual(turn.parts, [
      { type: "text", text: "Let me look. " },
      { type: "tool_call", toolCallId: "t1" },
      { type: "request", requestId: "q1" },
      { type: "text", text: "Using vitest. " },
      { type: "request", requestId: "p1" },
      { type: "tool_call", toolCallId: "t2" },
      { type: "text", text: "Done." }
    ])
    assert.deepStrictEqual(turn.steers, ["hurry"])
    assert.deepStrictEqual(turn.terminal, { output: "after the call\n", exitCode: null })
    const usage = { inputTokens: 101, outputTokens: 22, cacheReadTokens: 5, cacheWriteTokens: 3, costUsd: 0.5 }
    assert.deepStrictEqual(turn.usage, usage)
    assert.deepStrictEqual(state.usage, usage)
    assert.deepStrictEqual(callOf(state, "t1"), {
      toolCallId: "t1",
      turnId,
      toolName: "read_file",
      status: "completed",
      argsText: '{"path":"a.ts"}',
      args: { path: "a.ts" },
      result: { status: "success", output: { content: "x" } },
      error: null,
      terminal: { output: "", exitCode: null }
    })
    assert.strictEqual(callOf(state, "t2").status, "failed")
    assert.strictEqual(callOf(state, "t2").error, "flaky")
    assert.deepStrictEqual(callOf(state, "t2").terminal, { output: "$ npx vitest\nok\n", exitCode: 0 })
    assert.deepStrictEqual(
      state.requests.map((r) => [r.kind, r.requestId, r.resolution]),
      [
        ["question", "q1", "answered"],
        ["permission", "p1", "approved"]
      ]
    )
    assert.deepStrictEqual(state.files, [
      { path: "src/add.ts", change: "created", iteration: 1, seq: state.files[0]!.seq, ts: state.files[0]!.ts }
    ])
    assert.strictEqual(state.sandbox?.status, "ready")
    assert.deepStrictEqual(state.context, { usedTokens: 120, maxTokens: 1000 })
    assert.strictEqual(state.status, "ready")
    assert.strictEqual(state.currentTurnId, null)
    assert.strictEqual(state.lastSeq, seq)
    assert.deepStrictEqual(
      SessionState.transcript(state).map((m) => [m.role, m.text, m.streaming]),
      [["assistant", "Let me look. Using vitest. Done.", false]]
    )
  })

  it("a text_delta copies only its turn: other turns, tool calls, requests and files are shared", () => {
    seq = 0
    let state = SessionState.fromSnapshot(snapshot({ lastSeq: 0 }))
    for (const event of [
      ev("turn_started", { turnId: "old" }),
      ev("turn_complete", { turnId: "old", finalText: "" }),
      ev("file_changed", { path: "a", change: "created" }),
      ev("turn_started", { turnId }),
      ev("tool_call_start", { turnId, toolCallId: "t", toolName: "x" }),
      ev("text_delta", { turnId, text: "a" })
    ])
      state = SessionState.reduce(state, event)
    const next = SessionState.reduce(state, ev("text_delta", { turnId, text: "b" }))
    assert.strictEqual(turnOf(next, "old"), turnOf(state, "old"))
    assert.strictEqual(next.toolCalls, state.toolCalls)
    assert.strictEqual(next.requests, state.requests)
    assert.strictEqual(next.files, state.files)
    assert.strictEqual(next.turnIds, state.turnIds)
    assert.strictEqual(turnOf(next).parts[0], turnOf(state).parts[0], "the tool part before the text is shared")
    assert.strictEqual(turnOf(next).text, "ab")
  })

  it("from a snapshot mid-turn: the turn is partial with its text so far; a stream_snapshot at lastSeq is a no-op, without lastSeq it catches up the missing suffix", () => {
    seq = 10
    const mid = snapshot({
      lastSeq: 10,
      currentTurn: { turnId, status: "waiting", text: "Hello", startedAt: 5 },
      sandbox: { sandboxId: "sb", status: "ready" },
      recentHistory: [{ id: "u", role: "user", content: "hi", createdAt: 1 }]
    })
    const state = SessionState.fromSnapshot(mid)
    assert.deepStrictEqual(
      [turnOf(state).status, turnOf(state).text, turnOf(state).partial, state.currentTurnId, state.lastSeq],
      ["waiting", "Hello", true, turnId, 10]
    )
    assert.deepStrictEqual(state.sandbox, {
      sandboxId: "sb",
      status: "ready",
      progress: null,
      message: null,
      reason: null
    })
    const stream = { type: "stream_snapshot", sessionId, turnId, text: "Hello", seq: 10, ts: 0 } as const
    assert.strictEqual(SessionState.reduce(state, stream), state)
    const { lastSeq: _, ...seedSnapshot } = mid
    const seed = SessionState.fromSnapshot({ ...seedSnapshot, currentTurn: { ...mid.currentTurn!, text: "Hel" } })
    assert.strictEqual(seed.lastSeq, null)
    const caughtUp = SessionState.reduce(seed, stream)
    assert.deepStrictEqual(
      [turnOf(caughtUp).text, turnOf(caughtUp).parts, caughtUp.lastSeq],
      ["Hello", [{ type: "text", text: "Hello" }], 10]
    )
    assert.deepStrictEqual(
      SessionState.transcript(caughtUp).map((m) => [m.role, m.text, m.streaming]),
      [
        ["user", "hi", false],
        ["assistant", "Hello", true]
      ]
    )
  })

  it("a stream_snapshot that does not extend the turn's text (after a gap) replaces it and marks the turn partial; its tool calls stay", () => {
    seq = 0
    let state = SessionState.empty(sessionId)
    for (const event of [
      ev("turn_started", { turnId }),
      ev("text_delta", { turnId, text: "abc" }),
      ev("tool_call_start", { turnId, toolCallId: "t", toolName: "x" })
    ])
      state = SessionState.reduce(state, event)
    state = SessionState.reduce(state, { type: "gap", sessionId, fromSeq: seq + 1, toSeq: seq + 5 })
    seq += 5
    state = SessionState.reduce(state, ev("stream_snapshot", { turnId, text: "xyz" }))
    assert.deepStrictEqual(turnOf(state).parts, [
      { type: "tool_call", toolCallId: "t" },
      { type: "text", text: "xyz" }
    ])
    assert.isTrue(turnOf(state).partial)
    assert.deepStrictEqual(state.gaps, [{ fromSeq: 4, toSeq: 8 }])
  })

  it("events of unknown types are counted and change nothing else; a replayed one (seq already applied) is not counted again", () => {
    seq = 0
    let state = SessionState.fromEvent(ev("turn_started", { turnId }))
    const unknown = (payload: Record<string, unknown>): ServerEvent.UnknownEvent => ({
      type: "unknown",
      eventType: "future",
      payload: { type: "future", ...payload }
    })
    const before = state
    state = SessionState.reduce(state, unknown({ sessionId, seq: 2, ts: 0 }))
    assert.deepStrictEqual({ ...state, unknownEvents: 0, lastSeq: 1 }, before)
    assert.deepStrictEqual([state.unknownEvents, state.lastSeq], [1, 2])
    assert.strictEqual(SessionState.reduce(state, unknown({ sessionId, seq: 2, ts: 0 })), state)
    assert.strictEqual(SessionState.reduce(state, unknown({ sessionId: "other", seq: 3 })), state)
    assert.strictEqual(SessionState.reduce(state, unknown({ sessionId })).unknownEvents, 2, "no seq: counted")
  })

  it("a reset (the gateway's log went back) marks the turns then in progress partial; a completed turn stays whole; the new log applies from the reset's seq", () => {
    seq = 0
    let state = SessionState.fromEvent(ev("turn_started", { turnId: "done" }))
    state = SessionState.reduce(state, ev("turn_complete", { turnId: "done", finalText: "ok" }))
    state = SessionState.reduce(state, ev("turn_started", { turnId }))
    state = SessionState.reduce(state, ev("text_delta", { turnId, text: "half" }))
    const previousSeq = seq
    state = SessionState.reduce(state, { type: "reset", sessionId, previousSeq, seq: 0 })
    assert.isTrue(turnOf(state).partial)
    assert.strictEqual(turnOf(state).status, "running")
    assert.isFalse(turnOf(state, "done").partial)
    assert.deepStrictEqual(state.resets, [{ previousSeq, seq: 0 }])
    seq = 0
    state = SessionState.reduce(state, ev("turn_started", { turnId: "new" }))
    assert.strictEqual(state.lastSeq, 1)
    assert.strictEqual(state.currentTurnId, "new")
  })

  it("items of another session leave the state as it is", () => {
    seq = 0
    const state = SessionState.fromEvent(ev("turn_started", { turnId }))
    const other = { type: "text_delta", sessionId: "other", turnId, text: "x", seq: 9, ts: 0 } as const
    assert.strictEqual(SessionState.reduce(state, other), state)
    assert.strictEqual(SessionState.reduce(state, { type: "gap", sessionId: "other", fromSeq: 2, toSeq: 5 }), state)
  })

  it("an answer to a request the state never saw resumes the waiting turn; stop_acknowledged without a turn id stops the current one", () => {
    seq = 10
    let state = SessionState.fromSnapshot(
      snapshot({ currentTurn: { turnId, status: "waiting", text: "", startedAt: 0 } })
    )
    state = SessionState.reduce(state, ev("approval_resolved", { requestId: "unseen", resolution: "approved" }))
    assert.strictEqual(turnOf(state).status, "running")
    state = SessionState.reduce(state, ev("stop_acknowledged", { turnId: null }))
    assert.strictEqual(turnOf(state).status, "stopping")
    state = SessionState.reduce(state, ev("turn_error", { turnId, code: "STOPPED", message: "stopped" }))
    assert.deepStrictEqual(
      [turnOf(state).status, turnOf(state).error, state.currentTurnId],
      ["failed", { code: "STOPPED", message: "stopped" }, null]
    )
  })

  it("the end of a turn never seen is recorded as a partial turn and leaves the turn in progress as it is", () => {
    seq = 0
    let state = SessionState.fromEvent(ev("turn_started", { turnId }))
    state = SessionState.reduce(state, ev("turn_complete", { turnId: "unseen", finalText: "x" }))
    assert.strictEqual(state.currentTurnId, turnId)
    assert.deepStrictEqual(
      SessionState.turns(state).map((t) => [t.turnId, t.status, t.partial, t.finalText]),
      [
        [turnId, "running", false, null],
        ["unseen", "complete", true, "x"]
      ]
    )
  })

  describe("every session event type", () => {
    for (const type of ServerEvent.sessionEventTypes) {
      const schema = ServerEvent.schemas[type as ServerEvent.KnownType] as Schema.Schema<ServerEvent.SessionEvent>
      it.prop(
        `${type}: applied once, sets lastSeq, and the state still encodes`,
        [Arbitrary.make(schema)],
        ([event], ctx) => {
          ;(ctx.task.meta as { table?: string }).table = "session event types"
          const start = SessionState.fromSnapshot(snapshot({ lastSeq: 0 }))
          const applied = SessionState.reduce(start, { ...event, sessionId, seq: 1 })
          assert.strictEqual(applied.lastSeq, 1)
          assert.strictEqual(SessionState.reduce(applied, { ...event, sessionId, seq: 1 }), applied)
          assert.doesNotThrow(() => Schema.encodeSync(SessionState.SessionState)(applied))
          assert.doesNotThrow(() => SessionState.transcript(applied))
        },
        { fastCheck: { numRuns: 20 } }
      )
    }
  })
})

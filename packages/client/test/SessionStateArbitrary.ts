/**
 * Generated session logs shaped like real turns: each turn starts, streams text, thinking, messages,
 * tool calls (arguments in deltas, terminal output, a result or an error), asks a question or for
 * permission and gets it resolved, reports usage, and ends with `turn_complete` (its final text the
 * concatenation of its deltas) or `turn_error`; between turns come sandbox, file and session events,
 * and events of unknown types. Field contents come from the Schemas' arbitraries; ids, `seq` and
 * `ts` are assigned so the log is consistent.
 */
import { ServerEvent, type Shapes } from "@diminuendo/protocol"
import * as Arbitrary from "effect/Arbitrary"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as SessionState from "../src/SessionState.js"

export const sessionId = "sess-gen"

/** A session event before the log gives it `sessionId`, `seq` and `ts`. */
type Step = { readonly type: string } & Record<string, unknown>

const of = <A, I>(schema: Schema.Schema<A, I>) => Arbitrary.make(schema)

/** The fields of a generated event other than those the log assigns. */
const content = <A extends { readonly type: string }, I>(schema: Schema.Schema<A, I>) =>
  of(schema).map((event) => {
    const { sessionId: _s, seq: _q, ts: _t, turnId: _u, ...rest } = event as Record<string, unknown>
    return rest as Step
  })

// Realistic magnitudes: sums of arbitrary doubles overflow to Infinity, which JSON cannot carry.
const usage = content(ServerEvent.UsageUpdate).map((e) => ({
  ...e,
  inputTokens: (e.inputTokens as number) % 100_000,
  outputTokens: (e.outputTokens as number) % 100_000,
  ...(e.cacheReadTokens === undefined ? {} : { cacheReadTokens: (e.cacheReadTokens as number) % 100_000 }),
  ...(e.cacheWriteTokens === undefined ? {} : { cacheWriteTokens: (e.cacheWriteTokens as number) % 100_000 }),
  ...(e.costUsd === undefined ? {} : { costUsd: (e.costUsd as number) % 10 })
}))

const text = content(ServerEvent.TextDelta)

/** A segment of a turn: a few events that belong together. `id` makes its ids unique. */
type Segment = (turnId: string, id: number) => ReadonlyArray<Step>

const segment: fc.Arbitrary<Segment> = fc.oneof(
  { weight: 4, arbitrary: fc.array(text, { minLength: 1, maxLength: 6 }).map((steps) => () => steps) },
  {
    weight: 1,
    arbitrary: fc
      .array(content(ServerEvent.ThinkingProgress), { maxLength: 3 })
      .map((progress) => () => [{ type: "thinking_start" }, ...progress, { type: "thinking_complete" }])
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(content(ServerEvent.MessageComplete), fc.array(fc.string(), { maxLength: 3 }), fc.boolean())
      .map(
        ([complete, deltas, completes]): Segment =>
          (turnId, id) => {
            const messageId = `${turnId}-m${id}`
            const role = complete.role as string
            return [
              ...deltas.map((delta) => ({ type: "message.delta", messageId, role, delta })),
              ...(completes ? [{ ...complete, messageId, role, content: deltas.join("") }] : [])
            ]
          }
      )
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        content(ServerEvent.ToolCall),
        fc.integer({ min: 1, max: 3 }),
        fc.array(content(ServerEvent.TerminalStream), { maxLength: 3 }),
        fc.option(content(ServerEvent.TerminalComplete), { nil: undefined }),
        fc.oneof(content(ServerEvent.ToolResult), content(ServerEvent.ToolError))
      )
      .map(
        ([call, pieces, terminal, exit, end]): Segment =>
          (turnId, id) => {
            const toolCallId = `${turnId}-t${id}`
            const json = JSON.stringify(call.args) ?? "null"
            const size = Math.ceil(json.length / pieces)
            const deltas = Array.from({ length: pieces }, (_, i) => json.slice(i * size, (i + 1) * size))
            return [
              { type: "tool_call_start", toolCallId, toolName: call.toolName },
              ...deltas.map((delta) => ({ type: "tool_call_delta", toolCallId, delta })),
              { ...call, toolCallId },
              ...terminal,
              ...(exit === undefined ? [] : [exit]),
              { ...end, toolCallId }
            ]
          }
      )
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.oneof(content(ServerEvent.QuestionRequested), content(ServerEvent.PermissionRequested)),
        of(ServerEvent.ApprovalResolution),
        fc.array(text, { maxLength: 2 })
      )
      .map(
        ([request, resolution, meanwhile]): Segment =>
          (turnId, id) => {
            const requestId = `${turnId}-r${id}`
            return [{ ...request, requestId }, ...meanwhile, { type: "approval_resolved", requestId, resolution }]
          }
      )
  },
  { weight: 1, arbitrary: usage.map((u) => () => [u]) },
  { weight: 1, arbitrary: content(ServerEvent.FileChanged).map((f) => () => [f]) },
  { weight: 1, arbitrary: content(ServerEvent.SteerSent).map((s) => () => [s]) },
  { weight: 1, arbitrary: content(ServerEvent.UsageContext).map((c) => () => [c]) },
  { weight: 1, arbitrary: fc.constant(() => [{ type: "future_turn_event", detail: 1 }]) }
)

/** Events between turns. */
const interlude: fc.Arbitrary<ReadonlyArray<Step>> = fc
  .array(
    fc.oneof(
      fc.string().map((sandboxId) => [
        { type: "sandbox_init", sandboxId },
        { type: "sandbox_provisioning", sandboxId, progress: 0.5, message: "installing" },
        { type: "sandbox_ready", sandboxId }
      ]),
      content(ServerEvent.SandboxRemoved).map((r) => [r]),
      content(ServerEvent.FileChanged).map((f) => [f]),
      content(ServerEvent.UsageContext).map((c) => [c]),
      fc.constant([{ type: "future_session_event", detail: true }])
    ),
    { maxLength: 2 }
  )
  .map((groups) => groups.flat())

const turn = (n: number) =>
  fc
    .tuple(
      fc.option(fc.string(), { nil: undefined }),
      fc.array(segment, { maxLength: 7 }),
      fc.boolean(),
      fc.boolean(),
      content(ServerEvent.TurnError),
      interlude
    )
    .map(([clientTurnId, segments, fails, stops, error, after]) => {
      const turnId = `turn-${n}`
      const body = segments.flatMap((s, i) => s(turnId, i))
      const finalText = body.flatMap((e) => (e.type === "text_delta" ? [e.text as string] : [])).join("")
      const stopAt = Math.floor(body.length / 2)
      const steps: Array<Step> = [
        { type: "turn_started", ...(clientTurnId === undefined ? {} : { clientTurnId }) },
        { type: "session_state", status: "running" },
        ...body.slice(0, stopAt),
        ...(stops ? [{ type: "stop_acknowledged", turnId }] : []),
        ...body.slice(stopAt),
        fails ? error : { type: "turn_complete", finalText },
        { type: "session_state", status: "ready" },
        ...after
      ]
      return steps.map((step) => (turnScoped(step.type) ? { ...step, turnId } : step))
    })

const turnScoped = (type: string) => ServerEvent.turnEventTypes.has(type) || type === "future_turn_event"

/** An entry of a generated log: a session event, or an event of a type this version does not know. */
export type Entry = ServerEvent.SessionEvent | ServerEvent.UnknownEvent

/** A generated log: `seq` from `firstSeq` up, one per event, `ts` increasing. */
export const log: fc.Arbitrary<ReadonlyArray<Entry>> = fc
  .tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 4 }), interlude)
  .chain(([firstSeq, turns, before]) =>
    fc.tuple(...Array.from({ length: turns }, (_, n) => turn(n + 1))).map((ts) => {
      const steps = [...before, ...ts.flat()]
      return steps.map((step, i): Entry => {
        const event = { ...step, sessionId, seq: firstSeq + i, ts: 1_700_000_000_000 + i * 7 }
        return ServerEvent.isKnownType(step.type)
          ? (event as unknown as ServerEvent.SessionEvent)
          : { type: "unknown", eventType: step.type, payload: event as Record<string, unknown> }
      })
    })
  )

export const seqOf = (entry: Entry): number =>
  entry.type === "unknown" ? (entry.payload.seq as number) : (entry as ServerEvent.SessionEvent).seq

export const meta: Shapes.SessionMeta = {
  id: sessionId,
  tenantId: "dev",
  name: null,
  agentType: "coding-agent",
  status: "ready",
  archived: false,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  lastActivityAt: null
}

/**
 * What a gateway would send to a client joining after `entries[0..k)`: its `state_snapshot` (with
 * `lastSeq` or, like a seed gateway, without) and, mid-turn, a `stream_snapshot`. Computed from the
 * log directly, not with the reducer.
 */
export const joinAt = (
  entries: ReadonlyArray<Entry>,
  k: number,
  options: { readonly lastSeq: boolean; readonly streamSnapshot: boolean }
): { readonly snapshot: ServerEvent.StateSnapshot; readonly after: ReadonlyArray<SessionState.Item> } => {
  let status: Shapes.SessionStatus = "ready"
  let turn: { turnId: string; text: string; startedAt: number; waiting: Set<string>; stopping: boolean } | null = null
  let sandbox: Shapes.SandboxInfo | null = null
  const sandboxStatus = { sandbox_init: "initializing", sandbox_provisioning: "provisioning", sandbox_ready: "ready" }
  for (const entry of entries.slice(0, k)) {
    if (entry.type === "unknown") continue
    const e = entry as ServerEvent.SessionEvent
    switch (e.type) {
      case "session_state":
        status = e.status
        break
      case "turn_started":
        turn = { turnId: e.turnId, text: "", startedAt: e.ts, waiting: new Set(), stopping: false }
        break
      case "text_delta":
        if (turn !== null) turn.text += e.text
        break
      case "question_requested":
      case "permission_requested":
        turn?.waiting.add(e.requestId)
        break
      case "approval_resolved":
        if (e.requestId !== undefined) turn?.waiting.delete(e.requestId)
        break
      case "stop_acknowledged":
        if (turn !== null) turn.stopping = true
        break
      case "turn_complete":
      case "turn_error":
        turn = null
        break
      case "sandbox_init":
      case "sandbox_provisioning":
      case "sandbox_ready":
        sandbox = { sandboxId: e.sandboxId, status: sandboxStatus[e.type] }
        break
      case "sandbox_removed":
        sandbox = { sandboxId: e.sandboxId, status: "removed" }
        break
    }
  }
  const lastSeq = k === 0 ? seqOf(entries[0]!) - 1 : seqOf(entries[k - 1]!)
  const snapshot: ServerEvent.StateSnapshot = {
    type: "state_snapshot",
    sessionId,
    session: { ...meta, status },
    currentTurn:
      turn === null
        ? null
        : {
            turnId: turn.turnId,
            status: turn.stopping ? "stopping" : turn.waiting.size > 0 ? "waiting" : "running",
            text: turn.text,
            startedAt: turn.startedAt
          },
    recentHistory: [],
    subscriberCount: 2,
    sandbox,
    ...(options.lastSeq ? { lastSeq } : {})
  }
  const stream: Array<SessionState.Item> =
    turn !== null && options.streamSnapshot
      ? [
          {
            type: "stream_snapshot",
            sessionId,
            turnId: turn.turnId,
            text: turn.text,
            seq: lastSeq,
            ts: 1_800_000_000_000
          }
        ]
      : []
  return { snapshot, after: [...stream, ...entries.slice(k)] }
}

/** The state of a client that joined before the first event. */
export const joinedAtStart = (entries: ReadonlyArray<Entry>) =>
  SessionState.fromSnapshot(joinAt(entries, 0, { lastSeq: true, streamSnapshot: false }).snapshot)

export const encode = Schema.encodeSync(SessionState.SessionState)

/** The state as JSON and back, through its Schema. */
export const throughJson = (state: SessionState.SessionState): SessionState.SessionState => {
  const codec = Schema.parseJson(SessionState.SessionState)
  return Schema.decodeUnknownSync(codec)(Schema.encodeSync(codec)(state))
}

/** Compares states by their encoded form, map entries sorted by key. */
export const canonical = (state: SessionState.SessionState): unknown => {
  const encoded = encode(state) as Record<string, unknown>
  const sorted = (pairs: unknown) =>
    [...(pairs as ReadonlyArray<readonly [string, unknown]>)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return { ...encoded, turns: sorted(encoded.turns), toolCalls: sorted(encoded.toolCalls) }
}

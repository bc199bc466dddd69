/**
 * One session as an application renders it: the typed projection of the session's event stream.
 *
 * - {@link SessionState} is a Schema-described value: metadata and status, turns (status, text,
 *   thinking, messages, tool calls, terminal output, usage), the questions and permission requests
 *   and how they ended, files changed, the sandbox, context usage, the last applied `seq`, the gaps,
 *   and a count of events of unknown types.
 * - {@link reduce} is a pure reducer `(state, item) => state` over every session event, `gap` and
 *   unknown events, so it runs anywhere (server, browser, worker, test) without a connection. An
 *   item whose `seq` was already applied returns the same state object.
 * - {@link track} keeps a state up to date from a {@link GatewayClient.GatewayClient}: joins the
 *   session, folds its events, survives reconnects (the client resumes by `seq`; gaps show in the
 *   state), and offers the state as a `Subscribable` (current value at once, and a Stream of changes).
 *
 * Updates share structure: a `text_delta` copies its turn and the state's top-level record, and
 * touches the turn map along one path; the text itself grows by string concatenation.
 *
 * @since 0.1.0
 */
import { Primitives, ServerEvent, Shapes } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Subscribable from "effect/Subscribable"
import type * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Cell from "./internal/sessionStateCell.js"

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/**
 * Token counts and cost. Each `usage_update` is taken as the usage of one model call: a turn's
 * usage is the sum of its updates, the session's the sum over its turns.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  cacheReadTokens: Schema.Number,
  cacheWriteTokens: Schema.Number,
  costUsd: Schema.Number
}).annotations({ identifier: "SessionState.Usage" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * `running`; `waiting` for an answer to a question or permission request; `stopping` after
 * `stop_acknowledged`; `complete` after `turn_complete`; `failed` after `turn_error`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnStatus = Schema.Literal("running", "waiting", "stopping", "complete", "failed")
/**
 * @since 0.1.0
 * @category models
 */
export type TurnStatus = typeof TurnStatus.Type

/**
 * A piece of a turn in the order it streamed: text, a tool call (by id, in `toolCalls`), or a
 * question or permission request (by id, in `requests`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnPart = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("tool_call"), toolCallId: Schema.String }),
  Schema.Struct({ type: Schema.Literal("request"), requestId: Schema.String })
).annotations({ identifier: "SessionState.TurnPart" })
/**
 * @since 0.1.0
 * @category models
 */
export type TurnPart = typeof TurnPart.Type

/**
 * A message streamed with `message.delta` and closed by `message.complete`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  messageId: Schema.String,
  role: Schema.String,
  content: Schema.String,
  complete: Schema.Boolean
}).annotations({ identifier: "SessionState.Message" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Message extends Schema.Schema.Type<typeof Message> {}

/**
 * Terminal output (`terminal_stream`) and its exit code (`terminal_complete`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Terminal = Schema.Struct({
  output: Schema.String,
  exitCode: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "SessionState.Terminal" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Terminal extends Schema.Schema.Type<typeof Terminal> {}

/**
 * One turn. `text` is the concatenation of its `text_delta`s (from a `stream_snapshot` on, when it
 * was joined mid-turn); `finalText` is `turn_complete`'s. `partial` says that some of its events
 * were not seen: it was in progress when the state was built from a snapshot, or a gap fell inside it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Turn = Schema.Struct({
  turnId: Schema.String,
  clientTurnId: Schema.NullOr(Schema.String),
  status: TurnStatus,
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String })),
  text: Schema.String,
  finalText: Schema.NullOr(Schema.String),
  parts: Schema.Array(TurnPart),
  thinking: Schema.String,
  thinkingActive: Schema.Boolean,
  messages: Schema.Array(Message),
  toolCallIds: Schema.Array(Schema.String),
  /** Terminal output that came while none of the turn's tool calls was open. */
  terminal: Terminal,
  /** The `steer_sent` contents that came while this turn was in progress. */
  steers: Schema.Array(Schema.String),
  usage: Usage,
  startedAt: Schema.NullOr(Schema.Number),
  endedAt: Schema.NullOr(Schema.Number),
  partial: Schema.Boolean
}).annotations({ identifier: "SessionState.Turn" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Turn extends Schema.Schema.Type<typeof Turn> {}

/**
 * `pending` while its arguments stream, `running` once `tool_call` gave them, `completed` with a
 * `tool_result` (whose own `status` says success or error), `failed` with a `tool_error`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallStatus = Schema.Literal("pending", "running", "completed", "failed")
/**
 * @since 0.1.0
 * @category models
 */
export type ToolCallStatus = typeof ToolCallStatus.Type

/**
 * A tool call. `argsText` is the concatenation of its `tool_call_delta`s; `args` is present once
 * `tool_call` gave the parsed arguments. Terminal output goes to the turn's latest tool call while
 * that call is open (`terminal_stream` carries no tool call id).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Struct({
  toolCallId: Schema.String,
  turnId: Schema.String,
  toolName: Schema.NullOr(Schema.String),
  status: ToolCallStatus,
  argsText: Schema.String,
  args: Schema.optionalWith(Primitives.Json, { exact: true }),
  result: Schema.NullOr(Schema.Struct({ status: ServerEvent.ToolResultStatus, output: Primitives.Json })),
  error: Schema.NullOr(Schema.String),
  terminal: Terminal
}).annotations({ identifier: "SessionState.ToolCall" })
/**
 * @since 0.1.0
 * @category models
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

const requestFields = {
  requestId: Schema.String,
  turnId: Schema.String,
  seq: Schema.Number,
  /** `null` while pending; then `approval_resolved`'s resolution. */
  resolution: Schema.NullOr(ServerEvent.ApprovalResolution)
}

/**
 * A question or permission request of the agent, and how it ended.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Request = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("question"), ...requestFields, questions: Schema.Array(Shapes.Question) }),
  Schema.Struct({
    kind: Schema.Literal("permission"),
    ...requestFields,
    toolName: Schema.String,
    description: Schema.String,
    args: Schema.optionalWith(Primitives.Json, { exact: true })
  })
).annotations({ identifier: "SessionState.Request" })
/**
 * @since 0.1.0
 * @category models
 */
export type Request = typeof Request.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const FileChange = Schema.Struct({
  path: Schema.String,
  change: ServerEvent.FileChanged.fields.change,
  iteration: Schema.NullOr(Schema.Number),
  seq: Schema.Number,
  ts: Schema.Number
}).annotations({ identifier: "SessionState.FileChange" })
/**
 * @since 0.1.0
 * @category models
 */
export interface FileChange extends Schema.Schema.Type<typeof FileChange> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Sandbox = Schema.Struct({
  sandboxId: Schema.String,
  status: Shapes.SandboxStatus,
  progress: Schema.NullOr(Schema.Number),
  message: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String)
}).annotations({ identifier: "SessionState.Sandbox" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Sandbox extends Schema.Schema.Type<typeof Sandbox> {}

/**
 * Session events with `fromSeq <= seq <= toSeq` were not applied and will not be: the gateway
 * no longer had them (`gap`), or they never arrived.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Gap = Schema.Struct({ fromSeq: Schema.Number, toSeq: Schema.Number }).annotations({
  identifier: "SessionState.Gap"
})
/**
 * @since 0.1.0
 * @category models
 */
export interface Gap extends Schema.Schema.Type<typeof Gap> {}

/**
 * One session as its events describe it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionState = Schema.Struct({
  sessionId: Schema.String,
  /** The metadata of the `state_snapshot` the state was built from (the live status is `status`). */
  session: Schema.NullOr(Shapes.SessionMeta),
  status: Schema.NullOr(Shapes.SessionStatus),
  subscriberCount: Schema.NullOr(Schema.Number),
  /** `state_snapshot.recentHistory`: the messages before the turns below. */
  history: Schema.Array(Shapes.HistoryMessage),
  /** The turns' ids, oldest first. */
  turnIds: Schema.Array(Schema.String),
  turns: Schema.HashMap({ key: Schema.String, value: Turn }),
  /** The turn in progress, if any. */
  currentTurnId: Schema.NullOr(Schema.String),
  toolCalls: Schema.HashMap({ key: Schema.String, value: ToolCall }),
  requests: Schema.Array(Request),
  files: Schema.Array(FileChange),
  sandbox: Schema.NullOr(Sandbox),
  /** The latest `usage_context`. */
  context: Schema.NullOr(Schema.Struct({ usedTokens: Schema.Number, maxTokens: Schema.Number })),
  usage: Usage,
  /** The `seq` of the last event applied (or passed by a gap): an event at or below it is a no-op. */
  lastSeq: Schema.NullOr(Schema.Number),
  gaps: Schema.Array(Gap),
  /**
   * Times the gateway's log went backwards (a failover restarted it): from `previousSeq` to `seq`.
   * Events applied before stay applied; the state continues from `seq`.
   */
  resets: Schema.Array(Schema.Struct({ previousSeq: Schema.Number, seq: Schema.Number })),
  /** Events of types this version does not know: counted, otherwise ignored. */
  unknownEvents: Schema.Number
}).annotations({ identifier: "SessionState" })
/**
 * @since 0.1.0
 * @category models
 */
export interface SessionState extends Schema.Schema.Type<typeof SessionState> {}

/**
 * What the reducer folds: a session's events, gaps, and events of unknown types.
 *
 * @since 0.1.0
 * @category models
 */
export type Item = ServerEvent.SessionEvent | ServerEvent.Gap | ServerEvent.UnknownEvent | GatewayClient.SessionReset

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

const noUsage: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 }
const noTerminal: Terminal = { output: "", exitCode: null }

const makeTurn = (turnId: string, startedAt: number | null, partial: boolean): Turn => ({
  turnId,
  clientTurnId: null,
  status: "running",
  error: null,
  text: "",
  finalText: null,
  parts: [],
  thinking: "",
  thinkingActive: false,
  messages: [],
  toolCallIds: [],
  terminal: noTerminal,
  steers: [],
  usage: noUsage,
  startedAt,
  endedAt: null,
  partial
})

/**
 * A session about which nothing is known yet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty = (sessionId: string): SessionState => ({
  sessionId,
  session: null,
  status: null,
  subscriberCount: null,
  history: [],
  turnIds: [],
  turns: HashMap.empty(),
  currentTurnId: null,
  toolCalls: HashMap.empty(),
  requests: [],
  files: [],
  sandbox: null,
  context: null,
  usage: noUsage,
  lastSeq: null,
  gaps: [],
  resets: [],
  unknownEvents: 0
})

const snapshotTurnStatus = (status: string): TurnStatus =>
  status === "waiting" || status === "stopping" ? status : "running"

/**
 * The state a `state_snapshot` (the reply to `join_session`) describes. Its turn in progress, if
 * any, is `partial`: only its text so far is known. Without `lastSeq` (a gateway that does not send
 * it), the first event applied sets it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSnapshot = (snapshot: ServerEvent.StateSnapshot): SessionState => {
  const current = snapshot.currentTurn
  const turn: Turn | undefined =
    current === null
      ? undefined
      : {
          ...makeTurn(current.turnId, current.startedAt, true),
          status: snapshotTurnStatus(current.status),
          text: current.text,
          parts: current.text === "" ? [] : [{ type: "text", text: current.text }]
        }
  const sandbox = snapshot.sandbox
  return {
    ...empty(snapshot.sessionId),
    session: snapshot.session,
    status: snapshot.session.status,
    subscriberCount: snapshot.subscriberCount,
    history: snapshot.recentHistory,
    turnIds: turn === undefined ? [] : [turn.turnId],
    turns: turn === undefined ? HashMap.empty() : HashMap.make([turn.turnId, turn]),
    currentTurnId: turn?.turnId ?? null,
    sandbox:
      sandbox === null
        ? null
        : { sandboxId: sandbox.sandboxId, status: sandbox.status, progress: null, message: null, reason: null },
    lastSeq: snapshot.lastSeq ?? null
  }
}

/**
 * The state after one event, for a session first seen through it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEvent = (event: ServerEvent.SessionEvent | ServerEvent.Gap): SessionState =>
  reduce(empty(event.sessionId), event)

// ---------------------------------------------------------------------------------------------
// Reducer
// ---------------------------------------------------------------------------------------------

type Patch = { -readonly [K in keyof SessionState]?: SessionState[K] }

const lastIndexWhere = <A>(items: ReadonlyArray<A>, f: (a: A) => boolean): number => {
  for (let i = items.length - 1; i >= 0; i--) if (f(items[i]!)) return i
  return -1
}

const isOpen = (status: TurnStatus) => status === "running" || status === "waiting" || status === "stopping"

const appendText = (turn: Turn, text: string): Turn => {
  if (text === "") return turn
  const parts = turn.parts.slice()
  const last = parts[parts.length - 1]
  if (last?.type === "text") parts[parts.length - 1] = { type: "text", text: last.text + text }
  else parts.push({ type: "text", text })
  return { ...turn, text: turn.text + text, parts }
}

/** Applies `f` to a turn, creating it (as `partial`: its start was not seen) when unknown. */
const updateTurn = (state: SessionState, turnId: string, f: (turn: Turn) => Turn): Patch => {
  const existing = HashMap.get(state.turns, turnId)
  if (Option.isSome(existing)) return { turns: HashMap.set(state.turns, turnId, f(existing.value)) }
  const turn = f(makeTurn(turnId, null, true))
  return {
    turns: HashMap.set(state.turns, turnId, turn),
    turnIds: [...state.turnIds, turnId],
    currentTurnId: isOpen(turn.status) ? turnId : state.currentTurnId
  }
}

const endTurn = (state: SessionState, turnId: string, f: (turn: Turn) => Turn): Patch => ({
  ...updateTurn(state, turnId, f),
  ...(state.currentTurnId === turnId ? { currentTurnId: null } : {})
})

/** Applies `f` to a tool call, creating it (and listing it in its turn) when unknown. */
const updateCall = (
  state: SessionState,
  turnId: string,
  toolCallId: string,
  f: (call: ToolCall) => ToolCall
): Patch => {
  const existing = HashMap.get(state.toolCalls, toolCallId)
  if (Option.isSome(existing)) return { toolCalls: HashMap.set(state.toolCalls, toolCallId, f(existing.value)) }
  const call = f({
    toolCallId,
    turnId,
    toolName: null,
    status: "pending",
    argsText: "",
    result: null,
    error: null,
    terminal: noTerminal
  })
  return {
    ...updateTurn(state, turnId, (turn) => ({
      ...turn,
      toolCallIds: [...turn.toolCallIds, toolCallId],
      parts: [...turn.parts, { type: "tool_call", toolCallId }]
    })),
    toolCalls: HashMap.set(state.toolCalls, toolCallId, call)
  }
}

const openCall = (call: ToolCall) => call.status === "pending" || call.status === "running"

/** Terminal output goes to the turn's latest tool call while it is open, otherwise to the turn. */
const updateTerminal = (state: SessionState, turnId: string, f: (terminal: Terminal) => Terminal): Patch => {
  const turn = HashMap.get(state.turns, turnId)
  const lastId = Option.isSome(turn) ? turn.value.toolCallIds[turn.value.toolCallIds.length - 1] : undefined
  const call = lastId === undefined ? Option.none() : HashMap.get(state.toolCalls, lastId)
  if (Option.isSome(call) && openCall(call.value)) {
    return {
      toolCalls: HashMap.set(state.toolCalls, call.value.toolCallId, {
        ...call.value,
        terminal: f(call.value.terminal)
      })
    }
  }
  return updateTurn(state, turnId, (t) => ({ ...t, terminal: f(t.terminal) }))
}

const addUsage = (usage: Usage, event: ServerEvent.UsageUpdate): Usage => ({
  inputTokens: usage.inputTokens + event.inputTokens,
  outputTokens: usage.outputTokens + event.outputTokens,
  cacheReadTokens: usage.cacheReadTokens + (event.cacheReadTokens ?? 0),
  cacheWriteTokens: usage.cacheWriteTokens + (event.cacheWriteTokens ?? 0),
  costUsd: usage.costUsd + (event.costUsd ?? 0)
})

const hasPendingRequest = (requests: ReadonlyArray<Request>, turnId: string) =>
  requests.some((r) => r.turnId === turnId && r.resolution === null)

const addRequest = (state: SessionState, request: Request): Patch => ({
  ...updateTurn(state, request.turnId, (turn) => ({
    ...turn,
    status: turn.status === "running" ? "waiting" : turn.status,
    parts: [...turn.parts, { type: "request", requestId: request.requestId }]
  })),
  requests: [...state.requests, request]
})

const resolve = (state: SessionState, event: ServerEvent.ApprovalResolved): Patch => {
  // Without `requestId` (a seed gateway), the oldest pending request is the one resolved; without
  // `resolution`, how it ended is unknown: "resolved".
  const index =
    event.requestId === undefined
      ? state.requests.findIndex((r) => r.resolution === null)
      : lastIndexWhere(state.requests, (r) => r.requestId === event.requestId)
  const resolution = event.resolution ?? "resolved"
  const requests =
    index === -1 ? state.requests : state.requests.map((r, i) => (i === index ? { ...r, resolution } : r))
  // A request seen before the state began (or lost in a gap) belongs, as far as can be told, to the turn in progress.
  const turnId = index === -1 ? state.currentTurnId : state.requests[index]!.turnId
  const turn = turnId === null ? Option.none() : HashMap.get(state.turns, turnId)
  if (Option.isNone(turn) || turn.value.status !== "waiting" || hasPendingRequest(requests, turn.value.turnId)) {
    return { requests }
  }
  return { requests, turns: HashMap.set(state.turns, turn.value.turnId, { ...turn.value, status: "running" }) }
}

const setSandbox = (
  state: SessionState,
  sandboxId: string,
  status: Sandbox["status"],
  extra: Partial<Pick<Sandbox, "progress" | "message" | "reason">> = {}
): Patch => ({
  sandbox: {
    sandboxId,
    status,
    progress: extra.progress ?? null,
    message: extra.message ?? null,
    reason: extra.reason ?? (state.sandbox?.sandboxId === sandboxId ? state.sandbox.reason : null)
  }
})

/** What one session event (not yet applied, of this session) changes. */
const patchFor = (state: SessionState, event: ServerEvent.SessionEvent): Patch => {
  switch (event.type) {
    case "session_state":
      return { status: event.status }
    case "stream_snapshot":
      return updateTurn(state, event.turnId, (turn) =>
        event.text.startsWith(turn.text)
          ? appendText(turn, event.text.slice(turn.text.length))
          : {
              ...turn,
              text: event.text,
              parts: [...turn.parts.filter((p) => p.type !== "text"), { type: "text", text: event.text }],
              partial: true
            }
      )
    case "turn_started": {
      if (HashMap.has(state.turns, event.turnId)) return {}
      const turn: Turn = { ...makeTurn(event.turnId, event.ts, false), clientTurnId: event.clientTurnId ?? null }
      return {
        turns: HashMap.set(state.turns, event.turnId, turn),
        turnIds: [...state.turnIds, event.turnId],
        currentTurnId: event.turnId
      }
    }
    case "text_delta":
      return updateTurn(state, event.turnId, (turn) => appendText(turn, event.text))
    case "turn_complete":
      return endTurn(state, event.turnId, (turn) => ({
        ...turn,
        status: "complete",
        finalText: event.finalText,
        thinkingActive: false,
        endedAt: event.ts
      }))
    case "turn_error":
      return endTurn(state, event.turnId, (turn) => ({
        ...turn,
        status: "failed",
        error: { code: event.code, message: event.message },
        thinkingActive: false,
        endedAt: event.ts
      }))
    case "message.delta":
    case "message.complete":
      return updateTurn(state, event.turnId, (turn) => {
        const index = lastIndexWhere(turn.messages, (m) => m.messageId === event.messageId)
        const previous = index === -1 ? "" : turn.messages[index]!.content
        const message: Message =
          event.type === "message.delta"
            ? { messageId: event.messageId, role: event.role, content: previous + event.delta, complete: false }
            : { messageId: event.messageId, role: event.role, content: event.content, complete: true }
        return {
          ...turn,
          messages:
            index === -1 ? [...turn.messages, message] : turn.messages.map((m, i) => (i === index ? message : m))
        }
      })
    case "tool_call_start":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({ ...call, toolName: event.toolName }))
    case "tool_call_delta":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        argsText: call.argsText + event.delta
      }))
    case "tool_call":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        toolName: event.toolName,
        args: event.args,
        status: openCall(call) ? "running" : call.status
      }))
    case "tool_result":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        status: "completed",
        result: { status: event.status, output: event.output }
      }))
    case "tool_error":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        status: "failed",
        error: event.error
      }))
    case "thinking_start":
      return updateTurn(state, event.turnId, (turn) => ({ ...turn, thinkingActive: true }))
    case "thinking_progress":
      return updateTurn(state, event.turnId, (turn) => ({
        ...turn,
        thinking: turn.thinking + event.text,
        thinkingActive: true
      }))
    case "thinking_complete":
      return updateTurn(state, event.turnId, (turn) => ({ ...turn, thinkingActive: false }))
    case "terminal_stream":
      return updateTerminal(state, event.turnId, (t) => ({ ...t, output: t.output + event.data }))
    case "terminal_complete":
      return updateTerminal(state, event.turnId, (t) => ({ ...t, exitCode: event.exitCode }))
    case "usage_update":
      return {
        ...updateTurn(state, event.turnId, (turn) => ({ ...turn, usage: addUsage(turn.usage, event) })),
        usage: addUsage(state.usage, event)
      }
    case "question_requested":
      return addRequest(state, {
        kind: "question",
        requestId: event.requestId,
        turnId: event.turnId,
        seq: event.seq,
        resolution: null,
        questions: event.questions
      })
    case "permission_requested":
      return addRequest(state, {
        kind: "permission",
        requestId: event.requestId,
        turnId: event.turnId,
        seq: event.seq,
        resolution: null,
        toolName: event.toolName,
        description: event.description,
        ...(event.args === undefined ? {} : { args: event.args })
      })
    case "approval_resolved":
      return resolve(state, event)
    case "sandbox_init":
      return setSandbox(state, event.sandboxId, "initializing")
    case "sandbox_provisioning":
      return setSandbox(state, event.sandboxId, "provisioning", {
        progress: event.progress ?? null,
        message: event.message ?? null
      })
    case "sandbox_ready":
      return setSandbox(state, event.sandboxId, "ready")
    case "sandbox_removed":
      return setSandbox(state, event.sandboxId, "removed", { reason: event.reason ?? null })
    case "usage_context":
      return { context: { usedTokens: event.usedTokens, maxTokens: event.maxTokens } }
    case "file_changed":
      return {
        files: [
          ...state.files,
          { path: event.path, change: event.change, iteration: event.iteration ?? null, seq: event.seq, ts: event.ts }
        ]
      }
    case "steer_sent":
      return state.currentTurnId === null
        ? {}
        : updateTurn(state, state.currentTurnId, (turn) => ({
            ...turn,
            steers: event.content === undefined ? turn.steers : [...turn.steers, event.content]
          }))
    case "stop_acknowledged": {
      const turnId = event.turnId ?? state.currentTurnId
      const turn = turnId === null ? Option.none() : HashMap.get(state.turns, turnId)
      if (Option.isNone(turn) || (turn.value.status !== "running" && turn.value.status !== "waiting")) return {}
      return { turns: HashMap.set(state.turns, turn.value.turnId, { ...turn.value, status: "stopping" }) }
    }
  }
}

/** Records that `fromSeq..toSeq` will not be applied; the turns in progress become partial. */
const skip = (state: SessionState, fromSeq: number, toSeq: number): SessionState => {
  const last = state.lastSeq
  if (last !== null && toSeq <= last) return state
  let turns = state.turns
  for (const turnId of state.turnIds) {
    const turn = HashMap.unsafeGet(turns, turnId)
    if (isOpen(turn.status) && !turn.partial) turns = HashMap.set(turns, turnId, { ...turn, partial: true })
  }
  return {
    ...state,
    turns,
    gaps: [...state.gaps, { fromSeq: last === null ? fromSeq : Math.max(fromSeq, last + 1), toSeq }],
    lastSeq: toSeq
  }
}

/** Before an event at `seq`: a hole after the last applied `seq` is recorded as a gap. */
const before = (state: SessionState, seq: number) =>
  state.lastSeq !== null && seq > state.lastSeq + 1 ? skip(state, state.lastSeq + 1, seq - 1) : state

const unknownEvent = (state: SessionState, event: ServerEvent.UnknownEvent): SessionState => {
  const { seq, sessionId } = event.payload
  if (typeof sessionId === "string" && sessionId !== state.sessionId) return state
  // An unknown event that carries a valid seq holds that place in the log, so a replay of it is a no-op.
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0)
    return { ...state, unknownEvents: state.unknownEvents + 1 }
  if (state.lastSeq !== null && seq <= state.lastSeq) return state
  const base = before(state, seq)
  return { ...base, unknownEvents: base.unknownEvents + 1, lastSeq: seq }
}

/**
 * The state after one item. Items of another session, and session events whose `seq` is at or
 * below `lastSeq` (already applied, or passed by a gap), return `state` itself. A session event
 * after a hole in `seq` records the hole as a gap first.
 *
 * @since 0.1.0
 * @category reducers
 */
export const reduce = (state: SessionState, item: Item): SessionState => {
  if (item.type === "unknown") return unknownEvent(state, item)
  if (item.sessionId !== state.sessionId) return state
  if (item.type === "gap") return skip(state, item.fromSeq, item.toSeq)
  if (item.type === "reset") {
    return { ...state, lastSeq: item.seq, resets: [...state.resets, { previousSeq: item.previousSeq, seq: item.seq }] }
  }
  if (state.lastSeq !== null && item.seq <= state.lastSeq) return state
  const base = before(state, item.seq)
  return { ...base, ...patchFor(base, item), lastSeq: item.seq }
}

/**
 * Folds items into a state, in order.
 *
 * @since 0.1.0
 * @category reducers
 */
export const fold = (state: SessionState, items: Iterable<Item>): SessionState => {
  let next = state
  for (const item of items) next = reduce(next, item)
  return next
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/**
 * The turns, oldest first.
 *
 * @since 0.1.0
 * @category getters
 */
export const turns = (state: SessionState): ReadonlyArray<Turn> =>
  state.turnIds.map((turnId) => HashMap.unsafeGet(state.turns, turnId))

/**
 * The turn in progress, if any.
 *
 * @since 0.1.0
 * @category getters
 */
export const currentTurn = (state: SessionState): Turn | undefined =>
  state.currentTurnId === null ? undefined : HashMap.unsafeGet(state.turns, state.currentTurnId)

/**
 * A turn's tool calls, in the order they started.
 *
 * @since 0.1.0
 * @category getters
 */
export const toolCalls = (state: SessionState, turn: Turn): ReadonlyArray<ToolCall> =>
  turn.toolCallIds.map((id) => HashMap.unsafeGet(state.toolCalls, id))

/**
 * The questions and permission requests still waiting for an answer.
 *
 * @since 0.1.0
 * @category getters
 */
export const pendingRequests = (state: SessionState): ReadonlyArray<Request> =>
  state.requests.filter((r) => r.resolution === null)

/**
 * @since 0.1.0
 * @category models
 */
export interface TranscriptEntry {
  readonly id: string
  readonly role: string
  readonly text: string
  /** `null` for a message of `history`. */
  readonly turnId: string | null
  readonly streaming: boolean
}

/**
 * The conversation as messages: `history`, then each turn's messages (`message.*`) and its
 * assistant text (`finalText` once complete). Thinking is not in it (see `Turn.thinking`). The
 * user's prompt of a turn is not a session event: it appears only through `history`.
 *
 * @since 0.1.0
 * @category getters
 */
export const transcript = (state: SessionState): ReadonlyArray<TranscriptEntry> => {
  const entries: Array<TranscriptEntry> = state.history.map((m) => ({
    id: m.id,
    role: m.role,
    text: m.content,
    turnId: null,
    streaming: false
  }))
  for (const turn of turns(state)) {
    for (const m of turn.messages) {
      entries.push({ id: m.messageId, role: m.role, text: m.content, turnId: turn.turnId, streaming: !m.complete })
    }
    const text = turn.finalText ?? turn.text
    if (text !== "") {
      entries.push({ id: turn.turnId, role: "assistant", text, turnId: turn.turnId, streaming: isOpen(turn.status) })
    }
  }
  return entries
}

// ---------------------------------------------------------------------------------------------
// On a client
// ---------------------------------------------------------------------------------------------

/**
 * Tracks a session on a client: joins it (its `state_snapshot` is the first state), folds its
 * events, and follows the client through reconnects (it re-joins from the last `seq`; events the
 * gateway no longer has show as gaps). `get` reads the current state at once; `changes` is the
 * current state, then each newer one (a reader that falls behind skips to the latest: each state
 * includes everything before it). The streams fail if the session's event stream fails (the
 * client closed, or `SlowConsumer`). Closing the scope stops tracking; the session stays joined.
 *
 * With a gateway that omits `state_snapshot.lastSeq`, start tracking before anything else joins
 * the session on this client: events that arrive between an earlier join and this one's snapshot
 * cannot be told apart from those the snapshot already includes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const track = (
  client: GatewayClient.GatewayClient,
  sessionId: string
): Effect.Effect<Subscribable.Subscribable<SessionState, GatewayError>, GatewayError, Scope.Scope> =>
  Effect.gen(function* () {
    const cell = Cell.make<SessionState, GatewayError>(empty(sessionId))
    // Subscribed before the join is sent: what follows the snapshot (a `stream_snapshot`, a replay,
    // live events) can arrive with it, and is folded after it.
    const items = yield* client.subscribeSession(sessionId)
    const snapshot = yield* client.joinSession(sessionId)
    cell.set(fromSnapshot(snapshot))
    yield* items.pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          let state = cell.get()
          for (const item of chunk) state = reduce(state, item)
          cell.set(state)
        })
      ),
      Effect.onExit((exit) => Effect.sync(() => cell.end(exit))),
      Effect.forkScoped
    )
    return Subscribable.make({ get: Effect.sync(cell.get), changes: cell.changes })
  })

/**
 * {@link track} as a Stream of states: the current one, then each newer one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const changes = (
  client: GatewayClient.GatewayClient,
  sessionId: string
): Stream.Stream<SessionState, GatewayError> =>
  Stream.unwrapScoped(Effect.map(track(client, sessionId), (tracked) => tracked.changes))

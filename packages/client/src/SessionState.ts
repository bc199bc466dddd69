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
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Subscribable from "effect/Subscribable"
import type * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import * as Cell from "./internal/sessionStateCell.js"
import * as Reducer from "./internal/sessionStateReducer.js"

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
 * were not seen: it was in progress when the state was built from a snapshot, a gap fell inside it,
 * or the gateway's log went back (a reset) while it was in progress.
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
   * Events applied before stay applied (the turns then in progress become `partial`); the state
   * continues from `seq`.
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
  usage: Reducer.noUsage,
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
          ...Reducer.makeTurn(current.turnId, current.startedAt, true),
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

/**
 * The state after one item. Items of another session, and session events whose `seq` is at or
 * below `lastSeq` (already applied, or passed by a gap), return `state` itself. A session event
 * after a hole in `seq` records the hole as a gap first.
 *
 * @since 0.1.0
 * @category reducers
 */
export const reduce: (state: SessionState, item: Item) => SessionState = Reducer.reduce

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
      entries.push({
        id: turn.turnId,
        role: "assistant",
        text,
        turnId: turn.turnId,
        streaming: Reducer.isOpen(turn.status)
      })
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

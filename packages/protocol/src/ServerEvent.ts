/**
 * The 54 events the gateway sends, one Schema each, the `ServerEvent` and `SessionEvent` unions,
 * and the `UnknownEvent` that carries an event of a type this version does not know.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { ErrorCode } from "./ErrorCode.js"
import { typeName } from "./internal/typeName.js"
import { FiniteNumber, Json, NonNegativeInt, OpenEnum, SafeInt, Seq, Timestamp } from "./Primitives.js"
import {
  AdditionId,
  addition,
  FileEncoding,
  FileEntry,
  FileVersion,
  HistoryMessage,
  Identity,
  Member,
  optional,
  Progress,
  Question,
  SandboxInfo,
  SessionMeta,
  SessionStatus,
  TurnSnapshot
} from "./Shapes.js"

/** A reply to one request: carries the request's `requestId` when the feature is on. */
const reply = <const Type extends string, Fields extends Schema.Struct.Fields>(
  identifier: string,
  type: Type,
  fields: Fields
) =>
  Schema.Struct({
    type: Schema.tag(type),
    ...fields,
    requestId: addition(Schema.String, "the reply is matched to its request by type and key fields")
  }).annotations({
    identifier,
    title: type
  })

/** An event sent on the gateway's own initiative. */
const notice = <const Type extends string, Fields extends Schema.Struct.Fields>(
  identifier: string,
  type: Type,
  fields: Fields
) => Schema.Struct({ type: Schema.tag(type), ...fields }).annotations({ identifier, title: type })

/** An entry of one session's ordered log: `sessionId`, `seq`, `ts`. */
const sessionEvent = <const Type extends string, Fields extends Schema.Struct.Fields>(
  identifier: string,
  type: Type,
  fields: Fields
) =>
  Schema.Struct({
    type: Schema.tag(type),
    sessionId: Schema.String,
    seq: Seq,
    ts: Timestamp,
    ...fields
  }).annotations({ identifier, title: type })

/** A session event that belongs to one turn: also `turnId`. */
const turnEvent = <const Type extends string, Fields extends Schema.Struct.Fields>(
  identifier: string,
  type: Type,
  fields: Fields
) => sessionEvent(identifier, type, { turnId: Schema.String, ...fields })

// ---------------------------------------------------------------------------------------------
// Connection and control
// ---------------------------------------------------------------------------------------------

/**
 * First event on every connection. `features` lists optional protocol features (`"requestId"`).
 *
 * @since 0.1.0
 * @category connection
 */
export const Welcome = notice("Welcome", "welcome", {
  serverVersion: addition(Schema.String, "unknown (`undefined` on the `Connected` state)"),
  protocolVersion: addition(SafeInt, "taken as compatible"),
  /**
   * The seeds say the welcome tells whether authentication is required, without naming the field:
   * absent, the client authenticates when it has a token, and otherwise waits for `authenticated`.
   */
  requiresAuth: optional(Schema.Boolean),
  heartbeatIntervalMs: addition(NonNegativeInt, "unknown; the client's own silence timeout applies"),
  features: addition(Schema.Array(Schema.String), "no optional features: replies are matched by type and key fields")
})
/**
 * @since 0.1.0
 * @category connection
 */
export interface Welcome extends Schema.Schema.Type<typeof Welcome> {}

/**
 * @since 0.1.0
 * @category connection
 */
export const Connected = notice("Connected", "connected", {
  connectionId: addition(Schema.String, "the client names the connection `connection-N`"),
  ts: addition(Timestamp, "not used")
})
/**
 * @since 0.1.0
 * @category connection
 */
export interface Connected extends Schema.Schema.Type<typeof Connected> {}

/**
 * Reply to `authenticate`, or sent unprompted in dev mode.
 *
 * @since 0.1.0
 * @category connection
 */
export const Authenticated = reply("Authenticated", "authenticated", { identity: Identity })
/**
 * @since 0.1.0
 * @category connection
 */
export interface Authenticated extends Schema.Schema.Type<typeof Authenticated> {}

/**
 * @since 0.1.0
 * @category connection
 */
export const Heartbeat = notice("Heartbeat", "heartbeat", { ts: addition(Timestamp, "only its arrival counts") })
/**
 * @since 0.1.0
 * @category connection
 */
export interface Heartbeat extends Schema.Schema.Type<typeof Heartbeat> {}

/**
 * Reply to `ping`: `ts` echoes the ping's, `serverTs` is the gateway's clock. The seeds fix no
 * field of it, so `ts` may be absent: the oldest ping waiting then takes the pong.
 *
 * @since 0.1.0
 * @category connection
 */
export const Pong = reply("Pong", "pong", {
  ts: Schema.optionalWith(Timestamp, { exact: true }),
  serverTs: addition(Timestamp, "latency is measured on the client's clock alone")
})
/**
 * @since 0.1.0
 * @category connection
 */
export interface Pong extends Schema.Schema.Type<typeof Pong> {}

/**
 * The gateway is going away; reconnect after `reconnectAfterMs`.
 *
 * @since 0.1.0
 * @category connection
 */
export const ServerShutdown = notice("ServerShutdown", "server_shutdown", {
  reason: addition(Schema.String, "logged without a reason"),
  reconnectAfterMs: addition(NonNegativeInt, "the first reconnect attempt follows the reconnect schedule")
})
/**
 * @since 0.1.0
 * @category connection
 */
export interface ServerShutdown extends Schema.Schema.Type<typeof ServerShutdown> {}

/**
 * A request failed, or a frame was rejected. `code` is open (`SESSION_NOT_FOUND`, `AUTH_FAILED`, ...).
 *
 * @since 0.1.0
 * @category connection
 */
export const ErrorEvent = reply("ErrorEvent", "error", {
  code: ErrorCode,
  message: Schema.String,
  requestType: addition(
    Schema.String,
    "the error fails the oldest pending request (a gateway without `requestId` answers in order); on a gateway that echoes `requestId`, an error with neither id nor type fails a request only when one is pending, else it is reported on `diagnostics`"
  ),
  sessionId: addition(Schema.String, "as for `requestType`")
})
/**
 * @since 0.1.0
 * @category connection
 */
export interface ErrorEvent extends Schema.Schema.Type<typeof ErrorEvent> {}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionList = reply("SessionList", "session_list", { sessions: Schema.Array(SessionMeta) })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionList extends Schema.Schema.Type<typeof SessionList> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionCreated = reply("SessionCreated", "session_created", { session: SessionMeta })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionCreated extends Schema.Schema.Type<typeof SessionCreated> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionUpdated = reply("SessionUpdated", "session_updated", { session: SessionMeta })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionUpdated extends Schema.Schema.Type<typeof SessionUpdated> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionArchived = reply("SessionArchived", "session_archived", { session: SessionMeta })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionArchived extends Schema.Schema.Type<typeof SessionArchived> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionUnarchived = reply("SessionUnarchived", "session_unarchived", { session: SessionMeta })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionUnarchived extends Schema.Schema.Type<typeof SessionUnarchived> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionDeleted = reply("SessionDeleted", "session_deleted", { sessionId: Schema.String })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionDeleted extends Schema.Schema.Type<typeof SessionDeleted> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SessionState = sessionEvent("SessionState", "session_state", { status: SessionStatus })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SessionState extends Schema.Schema.Type<typeof SessionState> {}

/**
 * Reply to `join_session`: the session as it is now. `lastSeq` (design) is the `seq` of the latest
 * event in the session's log, so a client that joins without `afterSeq` knows where the events it
 * will receive start, and can resume from there after a drop.
 *
 * @since 0.1.0
 * @category sessions
 */
export const StateSnapshot = reply("StateSnapshot", "state_snapshot", {
  sessionId: Schema.String,
  session: SessionMeta,
  currentTurn: Schema.NullOr(TurnSnapshot),
  recentHistory: Schema.Array(HistoryMessage),
  subscriberCount: NonNegativeInt,
  sandbox: Schema.NullOr(SandboxInfo),
  lastSeq: addition(
    SafeInt,
    "the session's position is the first event delivered; a drop before any event re-joins with `afterSeq: 0`"
  )
})
/**
 * @since 0.1.0
 * @category sessions
 */
export interface StateSnapshot extends Schema.Schema.Type<typeof StateSnapshot> {}

/**
 * Sent to a client joining mid-turn: the turn's text so far. Its `seq` is that of the latest event
 * the text includes, so the events that follow it continue the log without a hole.
 *
 * @since 0.1.0
 * @category sessions
 */
export const StreamSnapshot = turnEvent("StreamSnapshot", "stream_snapshot", { text: Schema.String })
/**
 * @since 0.1.0
 * @category sessions
 */
export interface StreamSnapshot extends Schema.Schema.Type<typeof StreamSnapshot> {}

// ---------------------------------------------------------------------------------------------
// Turn-scoped session events
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category turns
 */
export const TurnStarted = turnEvent("TurnStarted", "turn_started", {
  clientTurnId: addition(
    Schema.String,
    "`run_turn` is confirmed by the next `turn_started` of its session (one turn at a time per session)"
  )
})
/**
 * @since 0.1.0
 * @category turns
 */
export interface TurnStarted extends Schema.Schema.Type<typeof TurnStarted> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const TextDelta = turnEvent("TextDelta", "text_delta", { text: Schema.String })
/**
 * @since 0.1.0
 * @category turns
 */
export interface TextDelta extends Schema.Schema.Type<typeof TextDelta> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const TurnComplete = turnEvent("TurnComplete", "turn_complete", { finalText: Schema.String })
/**
 * @since 0.1.0
 * @category turns
 */
export interface TurnComplete extends Schema.Schema.Type<typeof TurnComplete> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const TurnError = turnEvent("TurnError", "turn_error", { message: Schema.String, code: Schema.String })
/**
 * @since 0.1.0
 * @category turns
 */
export interface TurnError extends Schema.Schema.Type<typeof TurnError> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const MessageDelta = turnEvent("MessageDelta", "message.delta", {
  messageId: Schema.String,
  role: Schema.String,
  delta: Schema.String
})
/**
 * @since 0.1.0
 * @category turns
 */
export interface MessageDelta extends Schema.Schema.Type<typeof MessageDelta> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const MessageComplete = turnEvent("MessageComplete", "message.complete", {
  messageId: Schema.String,
  role: Schema.String,
  content: Schema.String
})
/**
 * @since 0.1.0
 * @category turns
 */
export interface MessageComplete extends Schema.Schema.Type<typeof MessageComplete> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const ToolCallStart = turnEvent("ToolCallStart", "tool_call_start", {
  toolCallId: Schema.String,
  toolName: Schema.String
})
/**
 * @since 0.1.0
 * @category tools
 */
export interface ToolCallStart extends Schema.Schema.Type<typeof ToolCallStart> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const ToolCallDelta = turnEvent("ToolCallDelta", "tool_call_delta", {
  toolCallId: Schema.String,
  delta: Schema.String
})
/**
 * @since 0.1.0
 * @category tools
 */
export interface ToolCallDelta extends Schema.Schema.Type<typeof ToolCallDelta> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const ToolCall = turnEvent("ToolCall", "tool_call", {
  toolCallId: Schema.String,
  toolName: Schema.String,
  args: Json
})
/**
 * @since 0.1.0
 * @category tools
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const ToolResultStatus = OpenEnum("ToolResultStatus", "success", "error")

/**
 * @since 0.1.0
 * @category tools
 */
export const ToolResult = turnEvent("ToolResult", "tool_result", {
  toolCallId: Schema.String,
  status: ToolResultStatus,
  output: Json
})
/**
 * @since 0.1.0
 * @category tools
 */
export interface ToolResult extends Schema.Schema.Type<typeof ToolResult> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const ToolError = turnEvent("ToolError", "tool_error", { toolCallId: Schema.String, error: Schema.String })
/**
 * @since 0.1.0
 * @category tools
 */
export interface ToolError extends Schema.Schema.Type<typeof ToolError> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const ThinkingStart = turnEvent("ThinkingStart", "thinking_start", {})
/**
 * @since 0.1.0
 * @category turns
 */
export interface ThinkingStart extends Schema.Schema.Type<typeof ThinkingStart> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const ThinkingProgress = turnEvent("ThinkingProgress", "thinking_progress", { text: Schema.String })
/**
 * @since 0.1.0
 * @category turns
 */
export interface ThinkingProgress extends Schema.Schema.Type<typeof ThinkingProgress> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const ThinkingComplete = turnEvent("ThinkingComplete", "thinking_complete", {})
/**
 * @since 0.1.0
 * @category turns
 */
export interface ThinkingComplete extends Schema.Schema.Type<typeof ThinkingComplete> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const TerminalStream = turnEvent("TerminalStream", "terminal_stream", { data: Schema.String })
/**
 * @since 0.1.0
 * @category tools
 */
export interface TerminalStream extends Schema.Schema.Type<typeof TerminalStream> {}

/**
 * @since 0.1.0
 * @category tools
 */
export const TerminalComplete = turnEvent("TerminalComplete", "terminal_complete", { exitCode: SafeInt })
/**
 * @since 0.1.0
 * @category tools
 */
export interface TerminalComplete extends Schema.Schema.Type<typeof TerminalComplete> {}

/**
 * @since 0.1.0
 * @category turns
 */
export const UsageUpdate = turnEvent("UsageUpdate", "usage_update", {
  inputTokens: NonNegativeInt,
  outputTokens: NonNegativeInt,
  cacheReadTokens: addition(NonNegativeInt, "unknown"),
  cacheWriteTokens: addition(NonNegativeInt, "unknown"),
  costUsd: addition(FiniteNumber.pipe(Schema.nonNegative()), "unknown")
})
/**
 * @since 0.1.0
 * @category turns
 */
export interface UsageUpdate extends Schema.Schema.Type<typeof UsageUpdate> {}

/**
 * The agent asks the user; answered with `answer_question` using the same `requestId`.
 *
 * @since 0.1.0
 * @category turns
 */
export const QuestionRequested = turnEvent("QuestionRequested", "question_requested", {
  requestId: Schema.String,
  questions: Schema.Array(Question)
})
/**
 * @since 0.1.0
 * @category turns
 */
export interface QuestionRequested extends Schema.Schema.Type<typeof QuestionRequested> {}

/**
 * The agent asks permission to run a tool; answered with `answer_question` using the same `requestId`.
 *
 * @since 0.1.0
 * @category turns
 */
export const PermissionRequested = turnEvent("PermissionRequested", "permission_requested", {
  requestId: Schema.String,
  toolName: Schema.String,
  description: Schema.String,
  args: optional(Json)
})
/**
 * @since 0.1.0
 * @category turns
 */
export interface PermissionRequested extends Schema.Schema.Type<typeof PermissionRequested> {}

// ---------------------------------------------------------------------------------------------
// Other session events
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category sessions
 */
export const ApprovalResolution = OpenEnum(
  "ApprovalResolution",
  "approved",
  "denied",
  "answered",
  "dismissed",
  "expired"
)

/**
 * @since 0.1.0
 * @category sessions
 */
export const ApprovalResolved = sessionEvent("ApprovalResolved", "approval_resolved", {
  requestId: addition(Schema.String, "confirms the oldest `answer_question` waiting on its session"),
  resolution: addition(ApprovalResolution, "unknown: the answer was taken")
})
/**
 * @since 0.1.0
 * @category sessions
 */
export interface ApprovalResolved extends Schema.Schema.Type<typeof ApprovalResolved> {}

/**
 * @since 0.1.0
 * @category sandbox
 */
export const SandboxInit = sessionEvent("SandboxInit", "sandbox_init", { sandboxId: Schema.String })
/**
 * @since 0.1.0
 * @category sandbox
 */
export interface SandboxInit extends Schema.Schema.Type<typeof SandboxInit> {}

/**
 * @since 0.1.0
 * @category sandbox
 */
export const SandboxProvisioning = sessionEvent("SandboxProvisioning", "sandbox_provisioning", {
  sandboxId: Schema.String,
  progress: optional(Progress),
  message: optional(Schema.String)
})
/**
 * @since 0.1.0
 * @category sandbox
 */
export interface SandboxProvisioning extends Schema.Schema.Type<typeof SandboxProvisioning> {}

/**
 * @since 0.1.0
 * @category sandbox
 */
export const SandboxReady = sessionEvent("SandboxReady", "sandbox_ready", { sandboxId: Schema.String })
/**
 * @since 0.1.0
 * @category sandbox
 */
export interface SandboxReady extends Schema.Schema.Type<typeof SandboxReady> {}

/**
 * @since 0.1.0
 * @category sandbox
 */
export const SandboxRemoved = sessionEvent("SandboxRemoved", "sandbox_removed", {
  sandboxId: Schema.String,
  reason: optional(Schema.String)
})
/**
 * @since 0.1.0
 * @category sandbox
 */
export interface SandboxRemoved extends Schema.Schema.Type<typeof SandboxRemoved> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const UsageContext = sessionEvent("UsageContext", "usage_context", {
  usedTokens: NonNegativeInt,
  maxTokens: NonNegativeInt
})
/**
 * @since 0.1.0
 * @category sessions
 */
export interface UsageContext extends Schema.Schema.Type<typeof UsageContext> {}

/**
 * @since 0.1.0
 * @category files
 */
export const FileChanged = sessionEvent("FileChanged", "file_changed", {
  path: Schema.String,
  change: OpenEnum("FileChange", "created", "modified", "deleted"),
  iteration: optional(NonNegativeInt)
})
/**
 * @since 0.1.0
 * @category files
 */
export interface FileChanged extends Schema.Schema.Type<typeof FileChanged> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const SteerSent = sessionEvent("SteerSent", "steer_sent", {
  content: addition(Schema.String, "confirms the oldest `steer` waiting on its session")
})
/**
 * @since 0.1.0
 * @category sessions
 */
export interface SteerSent extends Schema.Schema.Type<typeof SteerSent> {}

/**
 * @since 0.1.0
 * @category sessions
 */
export const StopAcknowledged = sessionEvent("StopAcknowledged", "stop_acknowledged", {
  turnId: addition(Schema.NullOr(Schema.String), "unknown: the session's running turn, if any, is stopping")
})
/**
 * @since 0.1.0
 * @category sessions
 */
export interface StopAcknowledged extends Schema.Schema.Type<typeof StopAcknowledged> {}

// ---------------------------------------------------------------------------------------------
// Replay and replies
// ---------------------------------------------------------------------------------------------

/**
 * Session events with `fromSeq <= seq <= toSeq` can no longer be replayed.
 *
 * @since 0.1.0
 * @category replay
 */
export const Gap = reply("Gap", "gap", { sessionId: Schema.String, fromSeq: Seq, toSeq: Seq })
/**
 * @since 0.1.0
 * @category replay
 */
export interface Gap extends Schema.Schema.Type<typeof Gap> {}

/**
 * Ends the replay that a `join_session` with `afterSeq` started.
 *
 * @since 0.1.0
 * @category replay
 */
export const ReplayComplete = reply("ReplayComplete", "replay_complete", {
  sessionId: Schema.String,
  lastSeq: addition(SafeInt, "not used: the replay's last event is the position")
})
/**
 * @since 0.1.0
 * @category replay
 */
export interface ReplayComplete extends Schema.Schema.Type<typeof ReplayComplete> {}

/**
 * @since 0.1.0
 * @category replies
 */
export const History = reply("History", "history", { sessionId: Schema.String, messages: Schema.Array(HistoryMessage) })
/**
 * @since 0.1.0
 * @category replies
 */
export interface History extends Schema.Schema.Type<typeof History> {}

/**
 * @since 0.1.0
 * @category replies
 */
export const FileList = reply("FileList", "file_list", {
  sessionId: Schema.String,
  path: Schema.String,
  entries: Schema.Array(FileEntry)
})
/**
 * @since 0.1.0
 * @category replies
 */
export interface FileList extends Schema.Schema.Type<typeof FileList> {}

/**
 * @since 0.1.0
 * @category replies
 */
export const FileContent = reply("FileContent", "file_content", {
  sessionId: Schema.String,
  path: Schema.String,
  content: Schema.String,
  encoding: FileEncoding,
  iteration: addition(
    NonNegativeInt,
    "a `file_at_iteration` for that path takes it when no `read_file` of the path is older"
  )
})
/**
 * @since 0.1.0
 * @category replies
 */
export interface FileContent extends Schema.Schema.Type<typeof FileContent> {}

/**
 * @since 0.1.0
 * @category replies
 */
export const FileHistoryResult = reply("FileHistoryResult", "file_history_result", {
  sessionId: Schema.String,
  path: Schema.String,
  versions: Schema.Array(FileVersion)
})
/**
 * @since 0.1.0
 * @category replies
 */
export interface FileHistoryResult extends Schema.Schema.Type<typeof FileHistoryResult> {}

/**
 * @since 0.1.0
 * @category members
 */
export const MemberList = reply("MemberList", "member_list", { members: Schema.Array(Member) })
/**
 * @since 0.1.0
 * @category members
 */
export interface MemberList extends Schema.Schema.Type<typeof MemberList> {}

/**
 * @since 0.1.0
 * @category members
 */
export const MemberUpdated = reply("MemberUpdated", "member_updated", { member: Member })
/**
 * @since 0.1.0
 * @category members
 */
export interface MemberUpdated extends Schema.Schema.Type<typeof MemberUpdated> {}

/**
 * @since 0.1.0
 * @category members
 */
export const MemberRemoved = reply("MemberRemoved", "member_removed", { userId: Schema.String })
/**
 * @since 0.1.0
 * @category members
 */
export interface MemberRemoved extends Schema.Schema.Type<typeof MemberRemoved> {}

// ---------------------------------------------------------------------------------------------
// Unions
// ---------------------------------------------------------------------------------------------

/**
 * The 30 events that carry `sessionId`, `seq` and `ts`: entries of a session's ordered log.
 *
 * @since 0.1.0
 * @category schemas
 */
export const sessionMembers = [
  SessionState,
  StreamSnapshot,
  TurnStarted,
  TextDelta,
  TurnComplete,
  TurnError,
  MessageDelta,
  MessageComplete,
  ToolCallStart,
  ToolCallDelta,
  ToolCall,
  ToolResult,
  ToolError,
  ThinkingStart,
  ThinkingProgress,
  ThinkingComplete,
  TerminalStream,
  TerminalComplete,
  UsageUpdate,
  QuestionRequested,
  PermissionRequested,
  ApprovalResolved,
  SandboxInit,
  SandboxProvisioning,
  SandboxReady,
  SandboxRemoved,
  UsageContext,
  FileChanged,
  SteerSent,
  StopAcknowledged
] as const

/**
 * @since 0.1.0
 * @category schemas
 */
export const SessionEvent = Schema.Union(...sessionMembers).annotations({ identifier: "SessionEvent" })
/**
 * @since 0.1.0
 * @category models
 */
export type SessionEvent = typeof SessionEvent.Type

// Filled in below once every member is defined: `events` (a member) contains unknown events,
// whose schema needs the list of known names.
const knownTypeList: Array<string> = []
const knownTypeSet = new Set<string>()

/**
 * The wire form of an event whose `type` is not one of the known 54.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownEventEncoded = Schema.Struct(
  {
    type: Schema.String.pipe(
      Schema.filter((t) => !knownTypeSet.has(t), {
        identifier: "UnknownType",
        description: "a type name that is not one of the known events",
        jsonSchema: { not: { enum: knownTypeList } }
      })
    )
  },
  Schema.Record({ key: Schema.String, value: Json })
).annotations({ identifier: "UnknownEventEncoded" })

/**
 * An event of a type this version does not know, kept whole: `eventType` is its wire `type` and
 * `payload` the whole frame. Encoding it gives the frame back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownEvent = Schema.Struct({
  type: Schema.tag("unknown"),
  eventType: Schema.String,
  payload: Schema.Record({ key: Schema.String, value: Json })
}).annotations({
  identifier: "UnknownEvent",
  // The invariant decoding keeps: `payload.type` is `eventType`, and that is not a known type.
  arbitrary: () => (fc) =>
    fc
      .record({ eventType: fc.string(), extra: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })) })
      .filter(({ eventType }) => !knownTypeSet.has(eventType))
      .map(({ eventType, extra }) => {
        const payload = JSON.parse(JSON.stringify({ ...extra, type: eventType }), (key, value) =>
          key === "__proto__" ? undefined : value
        ) as Record<string, unknown>
        return { type: "unknown" as const, eventType, payload }
      })
})
/**
 * @since 0.1.0
 * @category models
 */
export interface UnknownEvent extends Schema.Schema.Type<typeof UnknownEvent> {}

/**
 * Decodes an unknown-type frame into an {@link UnknownEvent}; encodes it back to the same frame.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownEventFromWire = Schema.transform(UnknownEventEncoded, UnknownEvent, {
  strict: true,
  decode: (wire): UnknownEvent => ({ type: "unknown", eventType: wire.type, payload: wire }),
  encode: (event): typeof UnknownEventEncoded.Type => ({ ...event.payload, type: event.eventType })
}).annotations({ identifier: "UnknownEventFromWire" })

/**
 * Reply to `get_events`: session events, each a full event object; unknown types are kept.
 *
 * @since 0.1.0
 * @category replies
 */
export const Events = reply("Events", "events", {
  sessionId: Schema.String,
  events: Schema.Array(Schema.Union(SessionEvent, UnknownEventFromWire))
})
/**
 * @since 0.1.0
 * @category replies
 */
export interface Events extends Schema.Schema.Type<typeof Events> {}

/**
 * The events that do not belong to a session's log.
 *
 * @since 0.1.0
 * @category schemas
 */
export const otherMembers = [
  Welcome,
  Connected,
  Authenticated,
  Heartbeat,
  Pong,
  ServerShutdown,
  ErrorEvent,
  SessionList,
  SessionCreated,
  SessionUpdated,
  SessionArchived,
  SessionUnarchived,
  SessionDeleted,
  StateSnapshot,
  Gap,
  ReplayComplete,
  History,
  Events,
  FileList,
  FileContent,
  FileHistoryResult,
  MemberList,
  MemberUpdated,
  MemberRemoved
] as const

/**
 * All 54 known server events.
 *
 * @since 0.1.0
 * @category schemas
 */
export const knownMembers = [...otherMembers, ...sessionMembers] as const

/**
 * @since 0.1.0
 * @category models
 */
export type KnownServerEvent = (typeof knownMembers)[number]["Type"]

/**
 * @since 0.1.0
 * @category models
 */
export type KnownType = KnownServerEvent["type"]

/**
 * All 54 known type names.
 *
 * @since 0.1.0
 * @category constants
 */
export const knownTypes = knownTypeList as ReadonlyArray<KnownType>
for (const member of knownMembers) {
  knownTypeList.push(typeName(member))
  knownTypeSet.add(typeName(member))
}

/**
 * @since 0.1.0
 * @category constants
 */
export const sessionEventTypes: ReadonlySet<string> = new Set(sessionMembers.map((m) => typeName(m)))

/**
 * The session events that belong to one turn: those with a required string `turnId` (derived from
 * the Schemas; `stop_acknowledged`, whose `turnId` may be null, is not one).
 *
 * @since 0.1.0
 * @category constants
 */
export const turnEventTypes: ReadonlySet<string> = new Set(
  sessionMembers
    .filter((m) =>
      AST.getPropertySignatures(m.ast).some((p) => p.name === "turnId" && !p.isOptional && AST.isStringKeyword(p.type))
    )
    .map((m) => typeName(m))
)

/**
 * Whether a `type` string names one of the 54 known events.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKnownType = (type: string): type is KnownType => knownTypeSet.has(type)

/**
 * Every event a client can receive: the 54 known ones and {@link UnknownEvent}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServerEvent = Schema.Union(...knownMembers, UnknownEventFromWire).annotations({
  identifier: "ServerEvent"
})

/**
 * @since 0.1.0
 * @category models
 */
export type ServerEvent = typeof ServerEvent.Type

/**
 * @since 0.1.0
 * @category models
 */
export type Type = ServerEvent["type"]

/**
 * The event whose `type` is `T`.
 *
 * @since 0.1.0
 * @category models
 */
export type ByType<T extends Type> = Extract<ServerEvent, { readonly type: T }>

/**
 * The schema of each known event, by `type`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schemas: { readonly [T in KnownType]: Schema.Schema<ByType<T>> } = Object.fromEntries(
  knownMembers.map((m) => [typeName(m), m])
) as any

/**
 * A guard narrowing a server event to one type: `events.pipe(Stream.filter(ServerEvent.is("text_delta")))`.
 *
 * @since 0.1.0
 * @category guards
 */
export const is =
  <T extends Type>(type: T) =>
  (event: ServerEvent): event is ByType<T> =>
    event.type === type

/**
 * Whether an event is an entry of a session's log (it carries `seq`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isSessionEvent = (event: ServerEvent): event is SessionEvent => sessionEventTypes.has(event.type)

/**
 * Builds a server event, filling in `type`: `make("heartbeat", { ts: 0 })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <T extends KnownType>(type: T, fields: Omit<ByType<T>, "type">): ByType<T> =>
  ({ type, ...fields }) as unknown as ByType<T>

/**
 * The fields this project added to each event (design), with what a client does without each:
 * a gateway built from the seeds alone sends none of them. Derived from the Schemas' {@link AdditionId}
 * annotations.
 *
 * @since 0.2.0
 * @category additions
 */
export const additions: { readonly [T in KnownType]: ReadonlyMap<string, string> } = Object.fromEntries(
  knownMembers.map((m) => [
    typeName(m),
    new Map(
      AST.getPropertySignatures(m.ast).flatMap((ps) => {
        const whenAbsent = ps.annotations[AdditionId]
        return typeof whenAbsent === "string" ? [[String(ps.name), whenAbsent] as const] : []
      })
    )
  ])
) as any

/**
 * The event as a gateway built from the seeds alone would send it: without the fields this project
 * added ({@link additions}). Events inside `events` are stripped too.
 *
 * @since 0.2.0
 * @category additions
 */
export const withoutAdditions = <E extends ServerEvent>(event: E): E => {
  if (event.type === "unknown") return event
  const added = additions[event.type as KnownType]
  let out: Record<string, unknown> | undefined
  if (added.size > 0) {
    out = {}
    for (const key in event) if (!added.has(key)) out[key] = event[key as keyof E]
  }
  if (event.type === "events") {
    out ??= { ...event }
    out.events = (event as Events).events.map((e) => withoutAdditions(e as ServerEvent))
  }
  return (out ?? event) as E
}

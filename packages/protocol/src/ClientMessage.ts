/**
 * The 21 messages a client sends to the gateway, one Schema each, and their union.
 *
 * Every request may carry a `requestId` when the gateway advertises the `"requestId"` feature; the
 * gateway echoes it on the reply and on `error`. `answer_question` is the exception: its
 * `requestId` (seed) names the question being answered and doubles as its correlation key.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { typeName } from "./internal/typeName.js"
import { NonNegativeInt, SafeInt, Timestamp } from "./Primitives.js"
import { addition, MemberRole, optional } from "./Shapes.js"

const request = <const Type extends string, Fields extends Schema.Struct.Fields>(
  identifier: string,
  type: Type,
  fields: Fields
) =>
  Schema.Struct({
    type: Schema.tag(type),
    ...fields,
    requestId: addition(Schema.String, "sent only to a gateway that offers the `requestId` feature")
  }).annotations({
    identifier,
    title: type
  })

/**
 * `authenticate` -> `authenticated`, or `error` `AUTH_FAILED`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Authenticate = request("Authenticate", "authenticate", { token: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface Authenticate extends Schema.Schema.Type<typeof Authenticate> {}

/**
 * `list_sessions` -> `session_list`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ListSessions = request("ListSessions", "list_sessions", { includeArchived: optional(Schema.Boolean) })
/**
 * @since 0.1.0
 * @category models
 */
export interface ListSessions extends Schema.Schema.Type<typeof ListSessions> {}

/**
 * `create_session` -> `session_created`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CreateSession = request("CreateSession", "create_session", {
  agentType: Schema.String,
  name: optional(Schema.String)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface CreateSession extends Schema.Schema.Type<typeof CreateSession> {}

/**
 * `rename_session` -> `session_updated`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RenameSession = request("RenameSession", "rename_session", {
  sessionId: Schema.String,
  name: Schema.String
})
/**
 * @since 0.1.0
 * @category models
 */
export interface RenameSession extends Schema.Schema.Type<typeof RenameSession> {}

/**
 * `archive_session` -> `session_archived`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ArchiveSession = request("ArchiveSession", "archive_session", { sessionId: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface ArchiveSession extends Schema.Schema.Type<typeof ArchiveSession> {}

/**
 * `unarchive_session` -> `session_unarchived`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnarchiveSession = request("UnarchiveSession", "unarchive_session", { sessionId: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface UnarchiveSession extends Schema.Schema.Type<typeof UnarchiveSession> {}

/**
 * `delete_session` -> `session_deleted`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeleteSession = request("DeleteSession", "delete_session", { sessionId: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface DeleteSession extends Schema.Schema.Type<typeof DeleteSession> {}

/**
 * `join_session` -> `state_snapshot`; with `afterSeq`, then the replayed session events with
 * `seq > afterSeq` (or a `gap`), then `replay_complete`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JoinSession = request("JoinSession", "join_session", {
  sessionId: Schema.String,
  afterSeq: optional(SafeInt)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface JoinSession extends Schema.Schema.Type<typeof JoinSession> {}

/**
 * `leave_session`: fire-and-forget (seed).
 *
 * @since 0.1.0
 * @category schemas
 */
export const LeaveSession = request("LeaveSession", "leave_session", { sessionId: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface LeaveSession extends Schema.Schema.Type<typeof LeaveSession> {}

/**
 * `run_turn`: no reply; the turn streams as session events starting with `turn_started`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunTurn = request("RunTurn", "run_turn", {
  sessionId: Schema.String,
  text: Schema.String,
  clientTurnId: optional(Schema.String)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface RunTurn extends Schema.Schema.Type<typeof RunTurn> {}

/**
 * `stop_turn`: the gateway emits `stop_acknowledged`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StopTurn = request("StopTurn", "stop_turn", { sessionId: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface StopTurn extends Schema.Schema.Type<typeof StopTurn> {}

/**
 * `steer`: the gateway emits `steer_sent`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Steer = request("Steer", "steer", { sessionId: Schema.String, content: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface Steer extends Schema.Schema.Type<typeof Steer> {}

/**
 * `answer_question`: the gateway emits `approval_resolved`. `requestId` is the question's id
 * (from `question_requested` or `permission_requested`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnswerQuestion = Schema.Struct({
  type: Schema.tag("answer_question"),
  sessionId: Schema.String,
  requestId: Schema.String,
  answers: Schema.Record({ key: Schema.String, value: Schema.String }),
  dismissed: optional(Schema.Boolean)
}).annotations({ identifier: "AnswerQuestion", title: "answer_question" })
/**
 * @since 0.1.0
 * @category models
 */
export interface AnswerQuestion extends Schema.Schema.Type<typeof AnswerQuestion> {}

/**
 * How a permission request (`permission_requested`) is answered with `answer_question` (design):
 * `answers: { decision: "approve" }` approves, `{ decision: "deny" }` denies, and `dismissed: true`
 * denies too. Any other answer does not approve.
 *
 * @since 0.2.0
 * @category permissions
 */
export const PermissionDecision = Schema.Literal("approve", "deny").annotations({ identifier: "PermissionDecision" })

/**
 * @since 0.2.0
 * @category permissions
 */
export type PermissionDecision = typeof PermissionDecision.Type

/**
 * The `answers` of an `answer_question` that decides a permission request.
 *
 * @since 0.2.0
 * @category permissions
 */
export const permissionAnswers = (decision: PermissionDecision): { readonly decision: PermissionDecision } => ({
  decision
})

/**
 * Whether the `answers` of an `answer_question` approve a permission request.
 *
 * @since 0.2.0
 * @category permissions
 */
export const isApproval = (answers: Readonly<Record<string, string>>): boolean => answers.decision === "approve"

/**
 * `get_history` -> `history`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GetHistory = request("GetHistory", "get_history", {
  sessionId: Schema.String,
  afterSeq: optional(SafeInt),
  limit: optional(NonNegativeInt)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface GetHistory extends Schema.Schema.Type<typeof GetHistory> {}

/**
 * `get_events` -> `events`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GetEvents = request("GetEvents", "get_events", {
  sessionId: Schema.String,
  afterSeq: optional(SafeInt),
  limit: optional(NonNegativeInt)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface GetEvents extends Schema.Schema.Type<typeof GetEvents> {}

/**
 * `ping` -> `pong` (echoing `ts`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Ping = request("Ping", "ping", { ts: Timestamp })
/**
 * @since 0.1.0
 * @category models
 */
export interface Ping extends Schema.Schema.Type<typeof Ping> {}

/**
 * `list_files` -> `file_list`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ListFiles = request("ListFiles", "list_files", {
  sessionId: Schema.String,
  path: optional(Schema.String),
  depth: optional(NonNegativeInt)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface ListFiles extends Schema.Schema.Type<typeof ListFiles> {}

/**
 * `read_file` -> `file_content`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReadFile = request("ReadFile", "read_file", { sessionId: Schema.String, path: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface ReadFile extends Schema.Schema.Type<typeof ReadFile> {}

/**
 * `file_history` -> `file_history_result`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileHistory = request("FileHistory", "file_history", { sessionId: Schema.String, path: Schema.String })
/**
 * @since 0.1.0
 * @category models
 */
export interface FileHistory extends Schema.Schema.Type<typeof FileHistory> {}

/**
 * `file_at_iteration` -> `file_content` with `iteration`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileAtIteration = request("FileAtIteration", "file_at_iteration", {
  sessionId: Schema.String,
  path: Schema.String,
  iteration: NonNegativeInt
})
/**
 * @since 0.1.0
 * @category models
 */
export interface FileAtIteration extends Schema.Schema.Type<typeof FileAtIteration> {}

/**
 * `manage_members` -> `member_list` (list), `member_updated` (set_role), `member_removed` (remove).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ManageMembers = request("ManageMembers", "manage_members", {
  action: Schema.Literal("list", "set_role", "remove"),
  userId: optional(Schema.String),
  role: optional(MemberRole)
})
/**
 * @since 0.1.0
 * @category models
 */
export interface ManageMembers extends Schema.Schema.Type<typeof ManageMembers> {}

/**
 * Every client message, in the order of PROTOCOL.md.
 *
 * @since 0.1.0
 * @category schemas
 */
export const members = [
  Authenticate,
  ListSessions,
  CreateSession,
  RenameSession,
  ArchiveSession,
  UnarchiveSession,
  DeleteSession,
  JoinSession,
  LeaveSession,
  RunTurn,
  StopTurn,
  Steer,
  AnswerQuestion,
  GetHistory,
  GetEvents,
  Ping,
  ListFiles,
  ReadFile,
  FileHistory,
  FileAtIteration,
  ManageMembers
] as const

/**
 * The union of all 21 client messages, discriminated by `type`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ClientMessage = Schema.Union(...members).annotations({ identifier: "ClientMessage" })

/**
 * @since 0.1.0
 * @category models
 */
export type ClientMessage = typeof ClientMessage.Type

/**
 * @since 0.1.0
 * @category models
 */
export type Type = ClientMessage["type"]

/**
 * The message whose `type` is `T`.
 *
 * @since 0.1.0
 * @category models
 */
export type ByType<T extends Type> = Extract<ClientMessage, { readonly type: T }>

/**
 * All 21 type names.
 *
 * @since 0.1.0
 * @category constants
 */
export const types: ReadonlyArray<Type> = members.map((m) => typeName(m))

/**
 * The schema of each message, by `type`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schemas: { readonly [T in Type]: Schema.Schema<ByType<T>> } = Object.fromEntries(
  members.map((m) => [typeName(m), m])
) as any

/**
 * A guard narrowing a client message to one type.
 *
 * @since 0.1.0
 * @category guards
 */
export const is =
  <T extends Type>(type: T) =>
  (message: ClientMessage): message is ByType<T> =>
    message.type === type

/**
 * Builds a client message, filling in `type`: `make("ping", { ts: 0 })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <T extends Type>(type: T, fields: Omit<ByType<T>, "type">): ByType<T> =>
  ({ type, ...fields }) as unknown as ByType<T>

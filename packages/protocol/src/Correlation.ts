/**
 * Where a reply meets its request. One table says which events answer each client message;
 * {@link matches} says whether a given event answers a given request when the gateway does not
 * echo `requestId` (the seeds' gateway), by reply type plus key fields. The client uses both, the
 * testkit gateway and the docs are generated from the same table.
 *
 * @since 0.1.0
 */
import type * as ClientMessage from "./ClientMessage.js"
import type * as ServerEvent from "./ServerEvent.js"

/**
 * The events that answer each client message. An empty list: no reply (fire-and-forget in the
 * seeds); the effect shows up as session events (`turn_started`, `stop_acknowledged`,
 * `steer_sent`, `approval_resolved`). Any request may instead be answered by `error`.
 *
 * @since 0.1.0
 * @category correlation
 */
export const replyTypes = {
  authenticate: ["authenticated"],
  list_sessions: ["session_list"],
  create_session: ["session_created"],
  rename_session: ["session_updated"],
  archive_session: ["session_archived"],
  unarchive_session: ["session_unarchived"],
  delete_session: ["session_deleted"],
  join_session: ["state_snapshot"],
  leave_session: [],
  run_turn: [],
  stop_turn: [],
  steer: [],
  answer_question: [],
  get_history: ["history"],
  get_events: ["events"],
  ping: ["pong"],
  list_files: ["file_list"],
  read_file: ["file_content"],
  file_history: ["file_history_result"],
  file_at_iteration: ["file_content"],
  manage_members: ["member_list", "member_updated", "member_removed"]
} as const satisfies { readonly [T in ClientMessage.Type]: ReadonlyArray<ServerEvent.KnownType> }

/**
 * The reply to each `manage_members` action.
 *
 * @since 0.2.0
 * @category correlation
 */
export const memberReplyTypes = {
  list: "member_list",
  set_role: "member_updated",
  remove: "member_removed"
} as const satisfies { readonly [A in ClientMessage.ManageMembers["action"]]: ServerEvent.KnownType }

/**
 * The reply to a `manage_members` action.
 *
 * @since 0.2.0
 * @category correlation
 */
export type MemberReplyOf<A extends ClientMessage.ManageMembers["action"]> = ServerEvent.ByType<
  (typeof memberReplyTypes)[A]
>

/**
 * The reply type of a request type.
 *
 * @since 0.1.0
 * @category correlation
 */
export type ReplyOf<T extends ClientMessage.Type> = ServerEvent.ByType<(typeof replyTypes)[T][number]>

/**
 * The session event that shows a fire-and-forget request took effect, if any.
 *
 * @since 0.1.0
 * @category correlation
 */
export const effectTypes = {
  run_turn: "turn_started",
  stop_turn: "stop_acknowledged",
  steer: "steer_sent",
  answer_question: "approval_resolved"
} as const satisfies { readonly [T in ClientMessage.Type]?: ServerEvent.KnownType }

/**
 * The fire-and-forget request types that a session event confirms.
 *
 * @since 0.2.0
 * @category correlation
 */
export type ConfirmedType = keyof typeof effectTypes

/**
 * The session event that confirms a fire-and-forget request.
 *
 * @since 0.2.0
 * @category correlation
 */
export type ConfirmationOf<T extends ConfirmedType> = ServerEvent.ByType<(typeof effectTypes)[T]>

/**
 * What a client waits for after sending a message of type `T`: its reply, the session event that
 * confirms it, or nothing (`leave_session`).
 *
 * @since 0.2.0
 * @category correlation
 */
export type OutcomeOf<T extends ClientMessage.Type> = T extends ConfirmedType
  ? ConfirmationOf<T>
  : [ReplyOf<T>] extends [never]
    ? void
    : ReplyOf<T>

/**
 * Whether a message of this type expects nothing back (`leave_session`, seed: fire-and-forget).
 *
 * @since 0.2.0
 * @category correlation
 */
export const isNotification = (type: ClientMessage.Type): boolean =>
  replyTypes[type].length === 0 && !(type in effectTypes)

/**
 * Whether a message of this type is confirmed by a session event rather than answered by a reply.
 *
 * @since 0.2.0
 * @category correlation
 */
export const isConfirmed = (type: ClientMessage.Type): type is ConfirmedType => type in effectTypes

/**
 * Requests that change nothing on the gateway, so a client may send them again after a reconnect
 * when it cannot know whether the first copy arrived. Every other request is sent at most once.
 *
 * @since 0.2.0
 * @category correlation
 */
export const idempotentTypes: ReadonlySet<ClientMessage.Type> = new Set<ClientMessage.Type>([
  "list_sessions",
  "join_session",
  "get_history",
  "get_events",
  "ping",
  "list_files",
  "read_file",
  "file_history",
  "file_at_iteration"
])

/**
 * Whether messages of this type carry a `requestId` that the client chooses for correlation.
 * `answer_question` does not: its `requestId` (seed) names the question being answered, so a
 * client never replaces it, and replies never echo it as a correlation id.
 *
 * @since 0.2.0
 * @category correlation
 */
export const hasCorrelationId = (type: ClientMessage.Type): boolean => type !== "answer_question"

/**
 * The correlation id a client put on a message, if any (never `answer_question`'s question id).
 *
 * @since 0.2.0
 * @category correlation
 */
export const correlationIdOf = (message: ClientMessage.ClientMessage): string | undefined =>
  hasCorrelationId(message.type) ? message.requestId : undefined

/**
 * Whether `event` is the session event showing that the fire-and-forget `request` took effect.
 * Only the fields the seeds fix are required: the project's additions are checked when present.
 *
 * - `run_turn`: a `turn_started` of that session; when the event echoes `clientTurnId` it must be
 *   the request's. Without the echo, the turn is the next `turn_started` of the session after the
 *   request was sent (one turn at a time per session; among several waiting callers the oldest
 *   takes it).
 * - `stop_turn`: a `stop_acknowledged` of that session.
 * - `steer`: a `steer_sent` of that session; when it carries `content` it must be the request's.
 * - `answer_question`: an `approval_resolved` of that session; when it carries `requestId` it must
 *   be the question's.
 *
 * @since 0.2.0
 * @category correlation
 */
export const confirms = (request: ClientMessage.ClientMessage, event: ServerEvent.ServerEvent): boolean => {
  switch (request.type) {
    case "run_turn":
      return (
        event.type === "turn_started" &&
        event.sessionId === request.sessionId &&
        (event.clientTurnId === undefined || event.clientTurnId === request.clientTurnId)
      )
    case "stop_turn":
      return event.type === "stop_acknowledged" && event.sessionId === request.sessionId
    case "steer":
      return (
        event.type === "steer_sent" &&
        event.sessionId === request.sessionId &&
        ((event as { content?: string }).content === undefined ||
          (event as { content?: string }).content === request.content)
      )
    case "answer_question":
      return (
        event.type === "approval_resolved" &&
        event.sessionId === request.sessionId &&
        ((event as { requestId?: string }).requestId === undefined ||
          (event as { requestId?: string }).requestId === request.requestId)
      )
    default:
      return false
  }
}

/**
 * Whether `event` answers `request`, judged by type and key fields only (no `requestId`): the
 * rule for a gateway that does not advertise the `"requestId"` feature. Among several pending
 * requests that an event matches, the oldest one takes it.
 *
 * @since 0.1.0
 * @category correlation
 */
export const matches = (request: ClientMessage.ClientMessage, event: ServerEvent.ServerEvent): boolean => {
  if (event.type === "error") return errorMatches(request, event)
  if (!(replyTypes[request.type] as ReadonlyArray<string>).includes(event.type)) return false
  switch (request.type) {
    case "rename_session":
    case "archive_session":
    case "unarchive_session":
      return "session" in event && event.session.id === request.sessionId
    case "delete_session":
    case "join_session":
    case "get_history":
    case "get_events":
      return "sessionId" in event && event.sessionId === request.sessionId
    case "ping":
      // A pong without `ts` (the seeds do not fix its fields) goes to the oldest ping waiting.
      return event.type === "pong" && (event.ts === undefined || event.ts === request.ts)
    case "list_files":
      return event.type === "file_list" && event.sessionId === request.sessionId
    case "read_file":
      return (
        event.type === "file_content" &&
        event.sessionId === request.sessionId &&
        event.path === request.path &&
        event.iteration === undefined
      )
    case "file_at_iteration":
      // A gateway that does not echo `iteration` (a seed one) answers with a plain `file_content`.
      return (
        event.type === "file_content" &&
        event.sessionId === request.sessionId &&
        event.path === request.path &&
        (event.iteration === undefined || event.iteration === request.iteration)
      )
    case "file_history":
      return (
        event.type === "file_history_result" && event.sessionId === request.sessionId && event.path === request.path
      )
    case "manage_members":
      if (event.type !== memberReplyTypes[request.action]) return false
      return event.type === "member_updated"
        ? event.member.userId === request.userId
        : event.type === "member_removed"
          ? event.userId === request.userId
          : true
    default:
      return true
  }
}

/**
 * Whether an `error` without a correlation id could answer `request`: its `requestType`, when
 * given, is the request's type, and its `sessionId`, when given, the request's session. An error
 * that names neither could answer any request: on a gateway without `requestId` (the seeds', which
 * answers in order) the oldest pending request takes it; on one that echoes `requestId`, such an
 * error answers a frame the gateway could not read, and a client attributes it only when exactly
 * one request is waiting, reporting it otherwise instead of failing an unrelated caller.
 *
 * @since 0.2.0
 * @category correlation
 */
export const errorMatches = (request: ClientMessage.ClientMessage, event: ServerEvent.ErrorEvent): boolean => {
  if (event.requestType !== undefined && event.requestType !== request.type) return false
  const sessionId = "sessionId" in request ? request.sessionId : undefined
  return event.sessionId === undefined || sessionId === undefined || event.sessionId === sessionId
}

/**
 * Whether an `error` names what it answers (`requestType` or `sessionId`).
 *
 * @since 0.2.0
 * @category correlation
 */
export const errorIsAttributed = (event: ServerEvent.ErrorEvent): boolean =>
  event.requestType !== undefined || event.sessionId !== undefined

/**
 * The correlation id a reply or error carries, if any.
 *
 * @since 0.1.0
 * @category correlation
 */
export const requestIdOf = (event: ServerEvent.ServerEvent): string | undefined =>
  event.type !== "unknown" &&
  event.type !== "approval_resolved" &&
  event.type !== "question_requested" &&
  event.type !== "permission_requested" &&
  "requestId" in event
    ? event.requestId
    : undefined

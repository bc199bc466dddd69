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
 * Whether `event` answers `request`, judged by type and key fields only (no `requestId`): the
 * rule for a gateway that does not advertise the `"requestId"` feature. Among several pending
 * requests that an event matches, the oldest one takes it.
 *
 * @since 0.1.0
 * @category correlation
 */
export const matches = (request: ClientMessage.ClientMessage, event: ServerEvent.ServerEvent): boolean => {
  if (event.type === "error") {
    if (event.requestType !== undefined && event.requestType !== request.type) return false
    const sessionId = "sessionId" in request ? request.sessionId : undefined
    return event.sessionId === undefined || sessionId === undefined || event.sessionId === sessionId
  }
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
      return event.type === "pong" && event.ts === request.ts
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
      return (
        event.type === "file_content" &&
        event.sessionId === request.sessionId &&
        event.path === request.path &&
        event.iteration === request.iteration
      )
    case "file_history":
      return (
        event.type === "file_history_result" && event.sessionId === request.sessionId && event.path === request.path
      )
    case "manage_members":
      return (
        (request.action === "list" && event.type === "member_list") ||
        (request.action === "set_role" && event.type === "member_updated" && event.member.userId === request.userId) ||
        (request.action === "remove" && event.type === "member_removed" && event.userId === request.userId)
      )
    default:
      return true
  }
}

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

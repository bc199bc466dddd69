/**
 * The `code` of an `error` event: an open enumeration. The seeds name `AUTH_FAILED` and
 * `SESSION_NOT_FOUND`; the rest are this project's (design), used by the testkit gateway and
 * expected by the client. Unknown codes decode as plain strings.
 *
 * @since 0.2.0
 */
import { OpenEnum } from "./Primitives.js"
import type { ProtocolError } from "./ProtocolError.js"

/**
 * @since 0.2.0
 * @category schemas
 */
export const ErrorCode = OpenEnum(
  "ErrorCode",
  "AUTH_REQUIRED",
  "AUTH_FAILED",
  "FORBIDDEN",
  "INVALID_MESSAGE",
  "UNKNOWN_TYPE",
  "FRAME_TOO_LARGE",
  "SESSION_NOT_FOUND",
  "SESSION_ARCHIVED",
  "TURN_IN_PROGRESS",
  "NO_ACTIVE_TURN",
  "QUESTION_NOT_FOUND",
  "UNKNOWN_AGENT",
  "FILE_NOT_FOUND",
  "MEMBER_NOT_FOUND",
  "AGENT_ERROR",
  "TURN_TOO_LARGE",
  "INTERNAL_ERROR"
)

/**
 * @since 0.2.0
 * @category models
 */
export type ErrorCode = typeof ErrorCode.Type

/**
 * The known codes by name, so code compares against a constant instead of a bare string.
 *
 * @since 0.2.0
 * @category constants
 */
export const ErrorCodes = {
  /** A request other than `authenticate`/`ping` before authenticating. */
  AuthRequired: "AUTH_REQUIRED",
  /** The token was refused (seed). */
  AuthFailed: "AUTH_FAILED",
  /** The caller's role does not allow the message (see PROTOCOL.md, permission matrix). */
  Forbidden: "FORBIDDEN",
  /** A frame that is JSON but not a valid message. */
  InvalidMessage: "INVALID_MESSAGE",
  /** A message `type` the gateway does not know. */
  UnknownType: "UNKNOWN_TYPE",
  /** A frame over the gateway's size limit. */
  FrameTooLarge: "FRAME_TOO_LARGE",
  /** No such session in the caller's tenant (seed). */
  SessionNotFound: "SESSION_NOT_FOUND",
  SessionArchived: "SESSION_ARCHIVED",
  /** `run_turn` while a turn runs: one turn at a time per session. */
  TurnInProgress: "TURN_IN_PROGRESS",
  /** `steer` without a running turn. */
  NoActiveTurn: "NO_ACTIVE_TURN",
  /** `answer_question` for a question that is not pending. */
  QuestionNotFound: "QUESTION_NOT_FOUND",
  UnknownAgent: "UNKNOWN_AGENT",
  FileNotFound: "FILE_NOT_FOUND",
  MemberNotFound: "MEMBER_NOT_FOUND",
  /** A turn's agent failed (`turn_error.code`). */
  AgentError: "AGENT_ERROR",
  /** A turn's text outgrew what one frame can carry; the turn was ended (`turn_error.code`). */
  TurnTooLarge: "TURN_TOO_LARGE",
  /** The gateway failed handling a request (a defect on its side). */
  InternalError: "INTERNAL_ERROR"
} as const satisfies Record<string, ErrorCode>

/**
 * The code a gateway answers a frame with when its codec rejects it: `FRAME_TOO_LARGE` for
 * `FrameTooLarge`, `UNKNOWN_TYPE` for `UnknownType`, `INVALID_MESSAGE` for everything else (invalid
 * JSON, a missing or mistyped field, an unsafe integer, nesting too deep).
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromProtocolError = (error: Pick<ProtocolError, "reason">): ErrorCode => {
  switch (error.reason) {
    case "FrameTooLarge":
      return ErrorCodes.FrameTooLarge
    case "UnknownType":
      return ErrorCodes.UnknownType
    default:
      return ErrorCodes.InvalidMessage
  }
}

/**
 * The testkit gateway's inbound path for one connection: a binary frame refused, the frame limit
 * before authentication, decoding, the authentication and role checks, the request handed to the
 * handlers and its reply (or `error`) sent with the request's correlation; and who a connection is
 * (`authenticate`, and what changing identity drops).
 *
 * @internal
 */
import {
  type ClientMessage,
  CloseCode,
  Codec,
  ErrorCode,
  Role,
  type ServerEvent,
  type Shapes
} from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Frame, User } from "../Gateway.js"
import * as Connection from "./connection.js"
import type { Reply } from "./handlers.js"
import type { Members } from "./members.js"
import { RequestError } from "./requestError.js"
import type { Sessions } from "./sessions.js"

export interface AuthenticationContext {
  readonly byToken: ReadonlyMap<string, User>
  readonly requiresAuth: boolean
  readonly devIdentity: Shapes.Identity
  readonly sessions: Sessions
}

/**
 * Signs a connection in as the token's user. A failed attempt leaves the connection
 * unauthenticated (in dev mode: the dev identity), never as whoever it was before.
 */
export const makeAuthenticate = (ctx: AuthenticationContext) => {
  /** The connection is someone else now (or no one): what it subscribed to as before is dropped. */
  const become = (conn: Connection.Conn, identity: Shapes.Identity | null) => {
    const same =
      identity !== null &&
      conn.identity !== null &&
      identity.userId === conn.identity.userId &&
      identity.tenantId === conn.identity.tenantId
    if (!same) for (const sessionId of [...conn.joined]) ctx.sessions.leave(conn, sessionId)
    conn.identity = identity
  }

  return (conn: Connection.Conn, token: string) =>
    Effect.suspend((): Effect.Effect<Shapes.Identity, RequestError> => {
      const user = ctx.byToken.get(token)
      if (user === undefined) {
        if (!ctx.requiresAuth && token === "") {
          become(conn, ctx.devIdentity)
          return Effect.succeed(ctx.devIdentity)
        }
        become(conn, ctx.requiresAuth ? null : ctx.devIdentity)
        return Effect.fail(
          new RequestError({ code: ErrorCode.ErrorCodes.AuthFailed, message: "Authentication failed" })
        )
      }
      become(conn, user.identity)
      return Effect.succeed(user.identity)
    })
}

export interface ReceiveContext {
  readonly codec: Codec.GatewayCodec
  /** Whether the gateway echoes `requestId`s. */
  readonly requestIds: boolean
  readonly maxUnauthenticatedFrameBytes: number
  readonly members: Members
  /** The correlation fields of a reply to `message`. */
  readonly correlate: (message: ClientMessage.ClientMessage) => { requestId?: string }
  readonly handle: (conn: Connection.Conn, message: ClientMessage.ClientMessage) => Effect.Effect<Reply, RequestError>
}

/** The handler of one connection's inbound frames. */
export const make = (ctx: ReceiveContext) => {
  const { codec, correlate, maxUnauthenticatedFrameBytes, members } = ctx

  const sendError = (conn: Connection.Conn, message: ClientMessage.ClientMessage, error: RequestError) =>
    Connection.sendLogged(codec, conn, {
      type: "error",
      code: error.code,
      message: error.message,
      requestType: message.type,
      ...("sessionId" in message ? { sessionId: message.sessionId } : {}),
      // `answer_question`'s requestId is the question's: echoed on its error so the client can tell.
      ...(message.type === "answer_question" && ctx.requestIds ? { requestId: message.requestId } : correlate(message))
    })

  return (conn: Connection.Conn) => (frame: Frame) =>
    Effect.suspend(() => {
      if (conn.closed) return Effect.void
      if (typeof frame !== "string") {
        return Connection.sendLogged(codec, conn, {
          type: "error",
          code: ErrorCode.ErrorCodes.InvalidMessage,
          message: `a binary frame of ${frame.byteLength} bytes: the protocol uses text frames`
        })
      }
      if (conn.identity === null && Codec.exceedsBytes(frame, maxUnauthenticatedFrameBytes)) {
        return Effect.zipRight(
          Connection.sendLogged(codec, conn, {
            type: "error",
            code: ErrorCode.ErrorCodes.FrameTooLarge,
            message: `before authentication frames are limited to ${maxUnauthenticatedFrameBytes} bytes`
          }),
          Connection.closeAfterQueued(conn, CloseCode.MessageTooBig, "frame too large before authentication")
        )
      }
      const decoded = codec.decode(frame)
      if (Either.isLeft(decoded)) return Connection.sendLogged(codec, conn, Connection.rejection(decoded.left))
      const message = decoded.right
      if (conn.identity === null && message.type !== "authenticate" && message.type !== "ping") {
        return sendError(
          conn,
          message,
          new RequestError({ code: ErrorCode.ErrorCodes.AuthRequired, message: "Authenticate first" })
        )
      }
      // Checked on every request against the caller's membership now: a role change or a removal
      // applies at once.
      const role = conn.identity === null ? undefined : members.roleOf(conn.identity)
      if (!Role.allows(role, message)) {
        return sendError(
          conn,
          message,
          new RequestError({
            code: ErrorCode.ErrorCodes.Forbidden,
            message:
              role === undefined
                ? `${conn.identity?.email ?? "this connection"} is not a member of tenant ${conn.identity?.tenantId}`
                : `a ${role} cannot send ${message.type}${message.type === "manage_members" ? ` ${message.action}` : ""} (it needs ${Role.required(message)})`
          })
        )
      }
      return ctx.handle(conn, message).pipe(
        Effect.flatMap((reply) => {
          if (reply === undefined) return Effect.void
          const error = Connection.send(codec, conn, { ...reply, ...correlate(message) } as ServerEvent.ServerEvent)
          // A reply that does not fit a frame is the sender's error, not a silence.
          return error === undefined
            ? Effect.void
            : Effect.fail(new RequestError({ code: ErrorCode.fromProtocolError(error), message: error.message }))
        }),
        Effect.catchAll((error) => sendError(conn, message, error)),
        // A defect handling one request is that request's error: the connection goes on.
        Effect.catchAllDefect((defect) =>
          Effect.zipRight(
            Effect.logError("testkit gateway failed handling a request", defect),
            sendError(
              conn,
              message,
              new RequestError({
                code: ErrorCode.ErrorCodes.InternalError,
                message: `internal error: ${String(defect)}`
              })
            )
          )
        )
      )
    })
}

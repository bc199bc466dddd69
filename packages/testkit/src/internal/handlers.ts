/**
 * What the gateway does with each of the 21 client messages: the reply it sends (or `undefined` for
 * those the seeds leave unanswered), or the `RequestError` the sender gets.
 *
 * @internal
 */
import { type ClientMessage, ErrorCode, Role, type ServerEvent, type Shapes } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import type * as Agent from "../Agent.js"
import type * as Connection from "./connection.js"
import type { Members } from "./members.js"
import { RequestError } from "./requestError.js"
import type { Session, Sessions } from "./sessions.js"
import type { Turns } from "./turns.js"

export type Reply = ServerEvent.ServerEvent | undefined

const { ErrorCodes } = ErrorCode

const fail = (code: ErrorCode.ErrorCode, message: string) => Effect.fail(new RequestError({ code, message }))

/** A workspace lookup's reply, or `FILE_NOT_FOUND` with `missing` when it found nothing. */
const found = <A>(value: A | undefined, missing: string, reply: (value: A) => Reply) =>
  value === undefined ? fail(ErrorCodes.FileNotFound, missing) : Effect.succeed(reply(value))

/** What the gateway accepts in fields that end up in events (so every event it builds fits a frame). */
export interface Limits {
  /** Session names. */
  readonly nameChars: number
  /** `run_turn.clientTurnId`. */
  readonly clientTurnIdChars: number
  /** `run_turn.text`, `steer.content`, and a turn's whole text. */
  readonly textChars: number
}

export interface HandlerContext {
  readonly limits: Limits
  readonly sessions: Sessions
  readonly turns: Turns
  readonly members: Members
  readonly agents: Readonly<Record<string, Agent.Agent>>
  readonly now: Effect.Effect<number>
  /** Checks a token and signs the connection in (or fails with `AUTH_FAILED`). */
  readonly authenticate: (conn: Connection.Conn, token: string) => Effect.Effect<Shapes.Identity, RequestError>
  /** A member was removed: their connections lose their subscriptions at once. */
  readonly removed: (tenantId: string, userId: string) => void
}

/** Succeeds when `text` is absent or at most `max` characters; else `INVALID_MESSAGE` naming the field. */
const within = (field: string, text: string | undefined, max: number) =>
  text === undefined || text.length <= max
    ? Effect.void
    : fail(ErrorCodes.InvalidMessage, `${field}: at most ${max} characters, got ${text.length}`)

export const make = (ctx: HandlerContext) => {
  const { limits, members, sessions, turns } = ctx

  /** The caller's session, or `SESSION_NOT_FOUND` (also for another tenant's). */
  const sessionFor = (conn: Connection.Conn, sessionId: string): Effect.Effect<Session, RequestError> => {
    const session = sessions.get(sessionId)
    return session === undefined || session.meta.tenantId !== conn.identity?.tenantId
      ? fail(ErrorCodes.SessionNotFound, `Session ${sessionId} does not exist`)
      : Effect.succeed(session)
  }

  const withSession = (
    conn: Connection.Conn,
    sessionId: string,
    f: (session: Session) => Effect.Effect<Reply, RequestError>
  ) => Effect.flatMap(sessionFor(conn, sessionId), f)

  const manageMembers = (conn: Connection.Conn, message: ClientMessage.ManageMembers) =>
    Effect.suspend((): Effect.Effect<Reply, RequestError> => {
      const identity = conn.identity!
      const tenantId = identity.tenantId
      if (message.action === "list") return Effect.succeed({ type: "member_list", members: members.list(tenantId) })
      const role = members.roleOf(identity)
      if (message.userId === undefined) {
        return fail(ErrorCodes.InvalidMessage, `manage_members.userId: is required for ${message.action}`)
      }
      const member = members.get(tenantId, message.userId)
      if (member === undefined) return fail(ErrorCodes.MemberNotFound, `No member ${message.userId}`)
      if (message.action === "remove") {
        const refused = Role.refusesChange(role, member.role)
        if (refused !== undefined) return fail(ErrorCodes.Forbidden, refused)
        members.remove(tenantId, message.userId)
        ctx.removed(tenantId, message.userId)
        return Effect.succeed({ type: "member_removed", userId: message.userId })
      }
      if (message.role === undefined) {
        return fail(ErrorCodes.InvalidMessage, "manage_members.role: is required for set_role")
      }
      if (!Role.isRole(message.role)) {
        return fail(
          ErrorCodes.InvalidMessage,
          `manage_members.role: one of ${Role.roles.join(", ")}, got ${JSON.stringify(message.role)}`
        )
      }
      const refused = Role.refusesChange(role, member.role, message.role)
      if (refused !== undefined) return fail(ErrorCodes.Forbidden, refused)
      const updated = { ...member, role: message.role }
      members.set(tenantId, updated)
      return Effect.succeed({ type: "member_updated", member: updated })
    })

  return (conn: Connection.Conn, message: ClientMessage.ClientMessage): Effect.Effect<Reply, RequestError> => {
    switch (message.type) {
      case "authenticate":
        return Effect.map(ctx.authenticate(conn, message.token), (identity) => ({ type: "authenticated", identity }))
      case "ping":
        return Effect.map(ctx.now, (serverTs) => ({ type: "pong", ts: message.ts, serverTs }))
      case "list_sessions":
        return Effect.sync(() => ({
          type: "session_list",
          sessions: sessions.list(conn.identity!.tenantId, message.includeArchived === true)
        }))
      case "create_session":
        return ctx.agents[message.agentType] === undefined
          ? fail(ErrorCodes.UnknownAgent, `No agent for agentType ${message.agentType}`)
          : Effect.zipRight(
              within("create_session.name", message.name, limits.nameChars),
              Effect.map(sessions.create(conn.identity!.tenantId, message.agentType, message.name), (session) => ({
                type: "session_created" as const,
                session
              }))
            )
      case "rename_session":
        return Effect.zipRight(
          within("rename_session.name", message.name, limits.nameChars),
          withSession(conn, message.sessionId, (s) =>
            Effect.map(sessions.update(s, { name: message.name }), (session) => ({ type: "session_updated", session }))
          )
        )
      case "archive_session":
        return withSession(conn, message.sessionId, (s) =>
          Effect.map(sessions.update(s, { archived: true }), (session) => ({ type: "session_archived", session }))
        )
      case "unarchive_session":
        return withSession(conn, message.sessionId, (s) =>
          Effect.map(sessions.update(s, { archived: false }), (session) => ({ type: "session_unarchived", session }))
        )
      case "delete_session":
        return withSession(conn, message.sessionId, (s) =>
          Effect.gen(function* () {
            sessions.delete(s)
            yield* turns.interrupt(s)
            return { type: "session_deleted", sessionId: s.meta.id } as const
          })
        )
      case "join_session":
        return withSession(conn, message.sessionId, (s) => Effect.as(sessions.join(conn, s, message), undefined))
      case "leave_session":
        return Effect.sync(() => {
          sessions.leave(conn, message.sessionId)
          return undefined
        })
      case "run_turn":
        return Effect.zipRight(
          Effect.zipRight(
            within("run_turn.text", message.text, limits.textChars),
            within("run_turn.clientTurnId", message.clientTurnId, limits.clientTurnIdChars)
          ),
          withSession(conn, message.sessionId, (s) =>
            s.meta.archived
              ? fail(ErrorCodes.SessionArchived, `Session ${s.meta.id} is archived`)
              : s.turn !== null
                ? fail(ErrorCodes.TurnInProgress, `Session ${s.meta.id} already has a turn running`)
                : Effect.as(turns.start(s, message.text, message.clientTurnId), undefined)
          )
        )
      case "stop_turn":
        return withSession(conn, message.sessionId, (s) => Effect.as(turns.stop(s), undefined))
      case "steer":
        return Effect.zipRight(
          within("steer.content", message.content, limits.textChars),
          withSession(conn, message.sessionId, (s) => Effect.as(turns.steer(s, message.content), undefined))
        )
      case "answer_question":
        return withSession(conn, message.sessionId, (s) =>
          Effect.as(turns.answer(s, message.requestId, message.answers, message.dismissed === true), undefined)
        )
      case "get_history":
        return withSession(conn, message.sessionId, (s) => {
          // `afterSeq` is a position in the session's log: messages recorded after that event.
          const after = message.afterSeq ?? -1
          const limit = Math.min(message.limit ?? 50, 1000)
          return Effect.succeed({
            type: "history",
            sessionId: s.meta.id,
            messages: s.history
              .filter((h) => h.seq > after)
              .slice(0, limit)
              .map((h) => h.message)
          })
        })
      case "get_events":
        return withSession(conn, message.sessionId, (s) => {
          const after = message.afterSeq ?? 0
          const limit = Math.min(message.limit ?? 200, 1000)
          return Effect.succeed({
            type: "events",
            sessionId: s.meta.id,
            events: sessions
              .log(s.meta.id)
              .filter((e) => e.seq > after)
              .slice(0, limit)
          })
        })
      case "list_files":
        return withSession(conn, message.sessionId, (s) => {
          const path = message.path ?? ""
          return found(s.workspace.list(path, message.depth ?? 1), `No directory ${path}`, (entries) => ({
            type: "file_list",
            sessionId: s.meta.id,
            path,
            entries
          }))
        })
      case "read_file":
        return withSession(conn, message.sessionId, (s) =>
          found(s.workspace.read(message.path), `No file ${message.path}`, (content) => ({
            type: "file_content",
            sessionId: s.meta.id,
            path: message.path,
            content,
            encoding: "utf-8"
          }))
        )
      case "file_history":
        return withSession(conn, message.sessionId, (s) =>
          found(s.workspace.history(message.path), `No file ${message.path}`, (versions) => ({
            type: "file_history_result",
            sessionId: s.meta.id,
            path: message.path,
            versions
          }))
        )
      case "file_at_iteration":
        return withSession(conn, message.sessionId, (s) =>
          found(
            s.workspace.readAt(message.path, message.iteration),
            `No file ${message.path} at iteration ${message.iteration}`,
            (content) => ({
              type: "file_content",
              sessionId: s.meta.id,
              path: message.path,
              content,
              encoding: "utf-8",
              iteration: message.iteration
            })
          )
        )
      case "manage_members":
        return manageMembers(conn, message)
    }
  }
}

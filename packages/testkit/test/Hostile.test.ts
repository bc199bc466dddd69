/**
 * The testkit gateway against hostile peers (issue 11): it models what a multi-tenant gateway
 * enforces (a permission matrix per request, role rules, re-authentication), never bricks itself
 * on inputs whose events would not fit a frame, limits unauthenticated peers, and bounds what it
 * holds for a client that does not read. Each claim failed on the code before its fix.
 */
import * as net from "node:net"
import { type ClientMessage, Role, type ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import WebSocket from "ws"
import * as Gateway from "../src/Gateway.js"
import * as WsServer from "../src/WsServer.js"
import { inMemory, overWs, type RawClient } from "./RawClient.js"

const user = (name: string, role: string, tenantId = "t") => ({
  token: `${name}-token`,
  identity: { userId: `u-${name}`, email: `${name}@example.com`, tenantId },
  role
})

const owner = user("owner", "owner")
const admin = user("admin", "admin")
const member = user("member", "member")
const viewer = user("viewer", "viewer")
const stranger = user("stranger", "owner", "other")

const signIn = (open: Effect.Effect<RawClient, never, any>, token: string) =>
  Effect.gen(function* () {
    const client = yield* open
    yield* client.next("welcome")
    yield* client.request({ type: "authenticate", token }, "authenticated")
    return client
  })

/** Sends `message`, then a ping; what came back for `message` before the pong (the gateway answers in order). */
const outcome = (client: RawClient, message: ClientMessage.ClientMessage) =>
  Effect.gen(function* () {
    const before = client.log.length
    yield* client.send(message)
    const ts = 1_000_000 + before
    yield* client.send({ type: "ping", ts })
    yield* client.nextWhere("pong", (pong) => pong.ts === ts)
    const error = client.log
      .slice(before)
      .find((e): e is ServerEvent.ErrorEvent => e.type === "error" && e.requestType === message.type)
    return error
  })

/** The permission matrix as PROTOCOL.md states it: the least role each message needs. */
const matrix: ReadonlyArray<readonly [ClientMessage.Type | "manage_members set_role", Role.Role | null]> = [
  ["authenticate", null],
  ["ping", null],
  ["list_sessions", "viewer"],
  ["join_session", "viewer"],
  ["leave_session", "viewer"],
  ["get_history", "viewer"],
  ["get_events", "viewer"],
  ["list_files", "viewer"],
  ["read_file", "viewer"],
  ["file_history", "viewer"],
  ["file_at_iteration", "viewer"],
  ["manage_members", "viewer"],
  ["create_session", "member"],
  ["rename_session", "member"],
  ["archive_session", "member"],
  ["unarchive_session", "member"],
  ["run_turn", "member"],
  ["stop_turn", "member"],
  ["steer", "member"],
  ["answer_question", "member"],
  ["delete_session", "admin"],
  ["manage_members set_role", "admin"]
]

describe("authorization in the testkit gateway", () => {
  it("the matrix written here is the protocol's rule (Role.minimum)", () => {
    for (const [type, least] of matrix) {
      if (type === "manage_members set_role") continue
      assert.strictEqual(Role.minimum[type], least, type)
    }
    assert.strictEqual(Object.keys(Role.minimum).length, 21)
  })

  it.scopedLive(
    "over ws, every message from every role: allowed as the matrix says, else FORBIDDEN with the needed role",
    ({ task }) =>
      Effect.gen(function* () {
        Object.assign(task.meta, { table: "message × role permissions", rows: matrix.length * 4 })
        const extra = [user("target", "viewer")]
        const { open } = yield* overWs.make({ users: [owner, admin, member, viewer, ...extra], heartbeatIntervalMs: 0 })
        const clients = {
          owner: yield* signIn(open, owner.token),
          admin: yield* signIn(open, admin.token),
          member: yield* signIn(open, member.token),
          viewer: yield* signIn(open, viewer.token)
        }
        const fresh = () =>
          Effect.map(
            clients.owner.request({ type: "create_session", agentType: "echo" }, "session_created"),
            (r) => r.session.id
          )
        for (const role of Role.roles) {
          for (const [type, least] of matrix) {
            const sessionId = yield* fresh()
            const message: ClientMessage.ClientMessage =
              type === "manage_members set_role"
                ? { type: "manage_members", action: "set_role", userId: "u-target", role: "viewer" }
                : messageOf(type, sessionId, `${role}-token`)
            const error = yield* outcome(clients[role], message)
            const allowed = least === null || Role.rank(role) >= Role.rank(least)
            if (allowed) {
              assert.notStrictEqual(error?.code, "FORBIDDEN", `${role} may send ${type}`)
            } else {
              assert.strictEqual(error?.code, "FORBIDDEN", `${role} may not send ${type}`)
              assert.include(error!.message, `needs ${least}`)
            }
          }
        }
      }),
    60_000
  )

  it.scopedLive(
    "removing a member takes their access away at once: live subscriptions, requests, and after logging in again",
    () =>
      Effect.gen(function* () {
        const { open } = yield* overWs.make({ users: [owner, admin], heartbeatIntervalMs: 0, agentStepMs: 1 })
        const o = yield* signIn(open, owner.token)
        const a = yield* signIn(open, admin.token)
        const { session } = yield* o.request({ type: "create_session", agentType: "echo" }, "session_created")
        yield* a.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
        yield* o.request({ type: "manage_members", action: "remove", userId: "u-admin" }, "member_removed")
        yield* o.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
        yield* o.send({ type: "run_turn", sessionId: session.id, text: "after the removal" })
        yield* o.next("turn_complete")
        // The removed admin's subscription is gone: not one event of that turn reached it.
        assert.isUndefined(a.log.find((e) => e.type === "turn_started"))
        const refused = yield* outcome(a, { type: "list_sessions" })
        assert.deepStrictEqual(
          [refused?.code, refused?.message],
          ["FORBIDDEN", "admin@example.com is not a member of tenant t"]
        )
        const again = yield* signIn(open, admin.token)
        assert.strictEqual((yield* outcome(again, { type: "list_sessions" }))?.code, "FORBIDDEN")
      })
  )

  it.scopedLive("roles are read per request: a demoted admin can no longer change roles on the same connection", () =>
    Effect.gen(function* () {
      const { open } = yield* overWs.make({ users: [owner, admin, member], heartbeatIntervalMs: 0 })
      const o = yield* signIn(open, owner.token)
      const a = yield* signIn(open, admin.token)
      yield* o.request(
        { type: "manage_members", action: "set_role", userId: "u-admin", role: "member" },
        "member_updated"
      )
      const refused = yield* outcome(a, {
        type: "manage_members",
        action: "set_role",
        userId: "u-member",
        role: "viewer"
      })
      assert.strictEqual(refused?.code, "FORBIDDEN")
    })
  )

  it.scopedLive(
    "role rules: nobody grants owner or changes an equal or higher role; unknown roles are invalid",
    ({ task }) =>
      Effect.gen(function* () {
        const { open } = yield* overWs.make({
          users: [owner, admin, user("admin2", "admin"), member],
          heartbeatIntervalMs: 0
        })
        const a = yield* signIn(open, admin.token)
        const o = yield* signIn(open, owner.token)
        const cases: ReadonlyArray<readonly [RawClient, ClientMessage.ManageMembers, string | undefined]> = [
          [a, { type: "manage_members", action: "set_role", userId: "u-admin", role: "owner" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "set_role", userId: "u-member", role: "owner" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "set_role", userId: "u-member", role: "admin" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "set_role", userId: "u-owner", role: "viewer" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "remove", userId: "u-owner" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "remove", userId: "u-admin2" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "set_role", userId: "u-member", role: "superuser" }, "INVALID_MESSAGE"],
          [o, { type: "manage_members", action: "set_role", userId: "u-owner", role: "viewer" }, "FORBIDDEN"],
          [o, { type: "manage_members", action: "set_role", userId: "u-member", role: "owner" }, "FORBIDDEN"],
          [a, { type: "manage_members", action: "set_role", userId: "u-member", role: "viewer" }, undefined],
          [o, { type: "manage_members", action: "set_role", userId: "u-admin2", role: "member" }, undefined]
        ]
        Object.assign(task.meta, { table: "role changes", rows: cases.length })
        for (const [client, message, code] of cases) {
          const error = yield* outcome(client, message)
          assert.strictEqual(error?.code, code, JSON.stringify(message))
        }
      })
  )

  it.scopedLive(
    "re-authenticating as another tenant drops the first tenant's subscriptions; a failed one leaves the connection unauthenticated",
    () =>
      Effect.gen(function* () {
        const { open } = yield* overWs.make({ users: [owner, stranger], heartbeatIntervalMs: 0, agentStepMs: 1 })
        const o = yield* signIn(open, owner.token)
        const c = yield* signIn(open, owner.token)
        const { session } = yield* o.request({ type: "create_session", agentType: "echo" }, "session_created")
        yield* c.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
        yield* c.request({ type: "authenticate", token: stranger.token }, "authenticated")
        yield* o.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
        yield* o.send({ type: "run_turn", sessionId: session.id, text: "private" })
        yield* o.next("turn_complete")
        yield* outcome(c, { type: "list_sessions" })
        assert.isUndefined(
          c.log.find((e) => e.type === "turn_started"),
          "no event of the first tenant"
        )
        const failed = yield* outcome(c, { type: "authenticate", token: "wrong" })
        assert.strictEqual(failed?.code, "AUTH_FAILED")
        assert.strictEqual((yield* outcome(c, { type: "list_sessions" }))?.code, "AUTH_REQUIRED")
      })
  )

  it.scopedLive("session ids are unguessable: random, not a counter", () =>
    Effect.gen(function* () {
      const { open } = yield* overWs.make({ users: [owner], heartbeatIntervalMs: 0 })
      const o = yield* signIn(open, owner.token)
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        ids.push((yield* o.request({ type: "create_session", agentType: "echo" }, "session_created")).session.id)
      }
      for (const id of ids)
        assert.match(id, /^sess-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.strictEqual(new Set(ids).size, 3)
    })
  )
})

describe("the testkit gateway never bricks itself", () => {
  const small = { maxFrameBytes: 4096, heartbeatIntervalMs: 0, agentStepMs: 1 }

  it.scopedLive(
    "a clientTurnId whose turn_started would not fit is refused to its sender; the session is not stuck",
    () =>
      Effect.gen(function* () {
        const { open } = yield* overWs.make({ users: [owner], ...small })
        const o = yield* signIn(open, owner.token)
        const { session } = yield* o.request({ type: "create_session", agentType: "echo" }, "session_created")
        const refused = yield* outcome(o, {
          type: "run_turn",
          sessionId: session.id,
          text: "hi",
          clientTurnId: "x".repeat(3900)
        })
        assert.strictEqual(refused?.code, "INVALID_MESSAGE")
        yield* o.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
        yield* o.send({ type: "run_turn", sessionId: session.id, text: "then this one" })
        const complete = yield* o.next("turn_complete")
        assert.strictEqual(complete.finalText, "Echo: then this one")
      })
  )

  it.scopedLive("a turn whose text outgrows a frame ends with TURN_TOO_LARGE; the next turn runs", () =>
    Effect.gen(function* () {
      const { gateway, open } = yield* overWs.make({ users: [owner], ...small })
      const o = yield* signIn(open, owner.token)
      const { session } = yield* o.request({ type: "create_session", agentType: "echo" }, "session_created")
      yield* o.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
      yield* gateway.scriptNextTurn(
        session.id,
        Array.from({ length: 20 }, () => ({ type: "text_delta" as const, text: "y".repeat(200) }))
      )
      yield* o.send({ type: "run_turn", sessionId: session.id, text: "grow" })
      const failed = yield* o.next("turn_error")
      assert.strictEqual(failed.code, "TURN_TOO_LARGE")
      yield* o.send({ type: "run_turn", sessionId: session.id, text: "next" })
      assert.strictEqual((yield* o.next("turn_complete")).finalText, "Echo: next")
    })
  )

  it.scopedLive("a session name too long for a frame is refused; session_list keeps working", () =>
    Effect.gen(function* () {
      const { open } = yield* overWs.make({ users: [owner], ...small })
      const o = yield* signIn(open, owner.token)
      const refused = yield* outcome(o, { type: "create_session", agentType: "echo", name: "n".repeat(3000) })
      assert.strictEqual(refused?.code, "INVALID_MESSAGE")
      // Five 1,000-character names do not fit one 4 KiB frame: the list is an error, not a silence.
      for (let i = 0; i < 5; i++) {
        yield* o.request({ type: "create_session", agentType: "echo", name: "n".repeat(1000) }, "session_created")
      }
      const tooBig = yield* outcome(o, { type: "list_sessions" })
      assert.strictEqual(tooBig?.code, "FRAME_TOO_LARGE")
    })
  )

  it.scopedLive("an oversized steer is refused; the sender's connection and the turn go on", () =>
    Effect.gen(function* () {
      const { open } = yield* overWs.make({
        users: [owner],
        maxFrameBytes: 4096,
        heartbeatIntervalMs: 0,
        agentStepMs: 20
      })
      const o = yield* signIn(open, owner.token)
      const { session } = yield* o.request({ type: "create_session", agentType: "echo" }, "session_created")
      yield* o.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
      yield* o.send({ type: "run_turn", sessionId: session.id, text: "a b c d e f g h" })
      yield* o.next("turn_started")
      const refused = yield* outcome(o, { type: "steer", sessionId: session.id, content: "s".repeat(3000) })
      assert.strictEqual(refused?.code, "INVALID_MESSAGE")
      yield* o.next("turn_complete")
    })
  )
})

describe("the testkit gateway limits what a peer can cost it", () => {
  for (const harness of [inMemory, overWs]) {
    it.scopedLive(
      `${harness.name}: a 6 KB frame nested 3,000 deep that spells __proto__ is an error; the connection goes on`,
      () =>
        Effect.gen(function* () {
          const { open } = yield* harness.make({ heartbeatIntervalMs: 0 })
          const client = yield* open
          yield* client.next("welcome")
          const deep = `{"type":"steer","sessionId":"s","content":"x","extra":{"__proto__":1,"a":${"[".repeat(3000)}${"]".repeat(3000)}}}`
          const nested = `{"type":"answer_question","sessionId":"s","requestId":"q","answers":{},"meta":${"[".repeat(3000)}1${"]".repeat(3000)},"k":"\\u0000__proto__"}`
          for (const frame of [deep, nested]) {
            yield* client.sendText(frame)
            yield* client.request({ type: "ping", ts: frame.length }, "pong")
          }
          assert.isUndefined(({} as { a?: unknown }).a)
        })
    )
  }

  it.scopedLive(
    "before authenticating, a frame over 64 KiB gets FRAME_TOO_LARGE and the connection is closed (1009), undecoded",
    () =>
      Effect.gen(function* () {
        const { open } = yield* overWs.make({ users: [owner], heartbeatIntervalMs: 0 })
        const anonymous = yield* open
        yield* anonymous.next("welcome")
        yield* anonymous.sendText(JSON.stringify({ type: "list_sessions", padding: "p".repeat(100_000) }))
        const error = yield* anonymous.next("error")
        assert.strictEqual(error.code, "FRAME_TOO_LARGE")
        const closed = yield* Deferred.await(anonymous.closed)
        assert.strictEqual(closed.code, 1009)
        // After authenticating, the same frame is only what it is: a request with an extra field.
        const signedIn = yield* signIn(open, owner.token)
        yield* signedIn.sendText(JSON.stringify({ type: "list_sessions", padding: "p".repeat(100_000) }))
        yield* signedIn.next("session_list")
      })
  )

  it.scopedLive(
    "a client that stops reading is closed with 1013 once 16 MiB wait for it; the gateway's memory stays bounded",
    () =>
      Effect.gen(function* () {
        // A short log: what the gateway keeps is the connection's buffer, not the session's history.
        const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0, agentStepMs: 0, retention: 10 })
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        const session = yield* gateway.createSession("dev", "echo")
        const closed = yield* Deferred.make<number>()
        const ws = new WebSocket(server.url)
        ws.on("error", () => {})
        ws.on("close", (code) => Deferred.unsafeDone(closed, Effect.succeed(code)))
        yield* Effect.addFinalizer(() => Effect.sync(() => ws.terminate()))
        yield* Effect.async<void>((resume) => void ws.once("open", () => resume(Effect.void)))
        // 400 terminal chunks of 256 KiB: 100 MiB for a client that will not read them.
        const chunk = "z".repeat(256 * 1024)
        yield* gateway.scriptNextTurn(
          session.id,
          Array.from({ length: 400 }, () => ({ type: "terminal_stream" as const, data: chunk }))
        )
        ws.send(JSON.stringify({ type: "join_session", sessionId: session.id }))
        yield* Effect.sleep("100 millis")
        global.gc?.()
        const heapBefore = process.memoryUsage().heapUsed
        // Stop reading, then start the flood.
        ;(ws as unknown as { _socket: { pause(): void } })._socket.pause()
        ws.send(JSON.stringify({ type: "run_turn", sessionId: session.id, text: "flood" }))
        for (let i = 0; i < 600 && (yield* server.connectionCount) > 0; i++) yield* Effect.sleep("25 millis")
        assert.strictEqual(yield* server.connectionCount, 0, "the non-reading client was cut")
        global.gc?.()
        const growth = process.memoryUsage().heapUsed - heapBefore
        // At most the 16 MiB bound (and slack) was held, not the 100 MiB sent.
        assert.isBelow(growth, 48 * 1024 * 1024)
        const log = yield* gateway.sessionLog(session.id)
        assert.isAtLeast(log[log.length - 1]!.seq, 400, "the turn itself ran on")
      }),
    60_000
  )
})

describe("the testkit server's scope", () => {
  it.scopedLive("closes within a second and a half though a peer never answers the close handshake", () =>
    Effect.gen(function* () {
      const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(Effect.orDie(WsServer.serve(gateway)), scope)
      const peer = net.connect(server.port, "127.0.0.1")
      peer.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
      // A peer that upgrades, then reads nothing and answers nothing.
      yield* Effect.async<void>((resume) => {
        peer.once("data", () => {
          peer.pause()
          resume(Effect.void)
        })
        peer.write(
          "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
      })
      yield* Effect.sleep("100 millis")
      const started = Date.now()
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("10 seconds"))
      peer.destroy()
      assert.isBelow(Date.now() - started, 1_500)
    })
  )
})

/** A valid message of each type, about `sessionId`. */
const messageOf = (type: ClientMessage.Type, sessionId: string, token: string): ClientMessage.ClientMessage => {
  switch (type) {
    case "authenticate":
      return { type, token }
    case "ping":
      return { type, ts: 1 }
    case "list_sessions":
      return { type }
    case "create_session":
      return { type, agentType: "echo" }
    case "rename_session":
      return { type, sessionId, name: "renamed" }
    case "run_turn":
      return { type, sessionId, text: "hi" }
    case "steer":
      return { type, sessionId, content: "this way" }
    case "answer_question":
      return { type, sessionId, requestId: "q", answers: {} }
    case "get_history":
    case "get_events":
    case "list_files":
      return { type, sessionId }
    case "read_file":
    case "file_history":
      return { type, sessionId, path: "a.ts" }
    case "file_at_iteration":
      return { type, sessionId, path: "a.ts", iteration: 1 }
    case "manage_members":
      return { type, action: "list" }
    default:
      return { type, sessionId } as ClientMessage.ClientMessage
  }
}

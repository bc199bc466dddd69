import { ClientMessage, ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { harnesses, inMemory, type RawClient } from "./RawClient.js"

const alice = {
  token: "alice-token",
  identity: { userId: "u-alice", email: "alice@example.com", tenantId: "acme" },
  role: "admin"
}
const bob = {
  token: "bob-token",
  identity: { userId: "u-bob", email: "bob@example.com", tenantId: "acme" },
  role: "member"
}
const eve = { token: "eve-token", identity: { userId: "u-eve", email: "eve@evil.test", tenantId: "evil" } }

const handshake = (client: RawClient) =>
  Effect.gen(function* () {
    const welcome = yield* client.next("welcome")
    yield* client.next("connected")
    return welcome
  })

/** A client through the handshake and signed in with `token`. */
const signedIn = <R>(open: Effect.Effect<RawClient, never, R>, token: string) =>
  Effect.gen(function* () {
    const client = yield* open
    yield* handshake(client)
    yield* client.request({ type: "authenticate", token }, "authenticated")
    return client
  })

const devClient = <R>(open: Effect.Effect<RawClient, never, R>) =>
  Effect.gen(function* () {
    const client = yield* open
    yield* handshake(client)
    yield* client.next("authenticated")
    return client
  })

const createAndJoin = (client: RawClient, agentType = "echo") =>
  Effect.gen(function* () {
    const { session } = yield* client.request({ type: "create_session", agentType, name: "test" }, "session_created")
    const snapshot = yield* client.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
    return { session, snapshot }
  })

const collectTurn = (client: RawClient) =>
  Effect.gen(function* () {
    const events: Array<ServerEvent.ServerEvent> = []
    for (;;) {
      const event = yield* client.any()
      events.push(event)
      if (event.type === "turn_complete" || event.type === "turn_error") return events
    }
  })

for (const harness of harnesses) {
  describe(`Gateway ${harness.name}`, () => {
    it.scopedLive("dev mode: welcome, connected, authenticated with the dev identity; requestId advertised", () =>
      Effect.gen(function* () {
        const { open } = yield* harness.make()
        const client = yield* open
        const welcome = yield* client.next("welcome")
        assert.strictEqual(welcome.requiresAuth, false)
        assert.deepStrictEqual(welcome.features, ["requestId"])
        assert.strictEqual(welcome.protocolVersion, 1)
        const connected = yield* client.next("connected")
        assert.match(connected.connectionId ?? "", /^conn-/)
        const authenticated = yield* client.next("authenticated")
        assert.strictEqual(authenticated.identity.email, "dev@localhost")
      })
    )

    it.scopedLive(
      "auth: required with users; AUTH_REQUIRED before, AUTH_FAILED for a bad token, then authenticated",
      () =>
        Effect.gen(function* () {
          const { open } = yield* harness.make({ users: [alice, bob] })
          const client = yield* open
          const welcome = yield* handshake(client)
          assert.strictEqual(welcome.requiresAuth, true)
          const early = yield* client.request({ type: "list_sessions", requestId: "r1" }, "error")
          assert.deepStrictEqual(
            [early.code, early.requestId, early.requestType],
            ["AUTH_REQUIRED", "r1", "list_sessions"]
          )
          const pong = yield* client.request({ type: "ping", ts: 7 }, "pong")
          assert.strictEqual(pong.ts, 7)
          const bad = yield* client.request({ type: "authenticate", token: "nope", requestId: "a1" }, "error")
          assert.deepStrictEqual([bad.code, bad.message, bad.requestId], ["AUTH_FAILED", "Authentication failed", "a1"])
          const ok = yield* client.request(
            { type: "authenticate", token: "alice-token", requestId: "a2" },
            "authenticated"
          )
          assert.deepStrictEqual(ok.identity, alice.identity)
          assert.strictEqual(ok.requestId, "a2")
        })
    )

    it.scopedLive("sessions: create, list, rename, archive (filtered), unarchive, delete, per tenant", () =>
      Effect.gen(function* () {
        const { open } = yield* harness.make({ users: [alice, eve] })
        const a = yield* signedIn(open, "alice-token")
        const e = yield* signedIn(open, "eve-token")

        const { session } = yield* a.request(
          { type: "create_session", agentType: "echo", name: "first" },
          "session_created"
        )
        assert.deepStrictEqual(
          [session.tenantId, session.name, session.agentType, session.archived],
          ["acme", "first", "echo", false]
        )
        const renamed = yield* a.request(
          { type: "rename_session", sessionId: session.id, name: "renamed" },
          "session_updated"
        )
        assert.strictEqual(renamed.session.name, "renamed")
        yield* a.request({ type: "archive_session", sessionId: session.id }, "session_archived")
        assert.strictEqual((yield* a.request({ type: "list_sessions" }, "session_list")).sessions.length, 0)
        const all = yield* a.request({ type: "list_sessions", includeArchived: true }, "session_list")
        assert.deepStrictEqual(
          all.sessions.map((s) => [s.id, s.archived]),
          [[session.id, true]]
        )
        const unarchived = yield* a.request({ type: "unarchive_session", sessionId: session.id }, "session_unarchived")
        assert.strictEqual(unarchived.session.archived, false)

        assert.strictEqual(
          (yield* e.request({ type: "list_sessions", includeArchived: true }, "session_list")).sessions.length,
          0
        )
        const foreign = yield* e.request({ type: "rename_session", sessionId: session.id, name: "mine" }, "error")
        assert.deepStrictEqual([foreign.code, foreign.sessionId], ["SESSION_NOT_FOUND", session.id])

        const deleted = yield* a.request({ type: "delete_session", sessionId: session.id }, "session_deleted")
        assert.strictEqual(deleted.sessionId, session.id)
        const gone = yield* a.request({ type: "join_session", sessionId: session.id }, "error")
        assert.strictEqual(gone.code, "SESSION_NOT_FOUND")
        const unknownAgent = yield* a.request({ type: "create_session", agentType: "poet" }, "error")
        assert.strictEqual(unknownAgent.code, "UNKNOWN_AGENT")
      })
    )

    it.scopedLive("an echo turn streams ordered session events to every subscriber, identical bytes", () =>
      Effect.gen(function* () {
        const { open } = yield* harness.make()
        const a = yield* devClient(open)
        const b = yield* devClient(open)
        const { session, snapshot } = yield* createAndJoin(a)
        assert.strictEqual(snapshot.subscriberCount, 1)
        const second = yield* b.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
        assert.strictEqual(second.subscriberCount, 2)
        yield* a.send({ type: "run_turn", sessionId: session.id, text: "hello there", clientTurnId: "c-1" })
        const eventsA = yield* collectTurn(a)
        const eventsB = yield* collectTurn(b)
        assert.strictEqual(eventsA[0]!.type, "turn_started")
        assert.strictEqual(eventsA[0]!.type === "turn_started" && eventsA[0]!.clientTurnId, "c-1")
        const last = eventsA[eventsA.length - 1]!
        assert.strictEqual(last.type === "turn_complete" && last.finalText, "Echo: hello there")
        const seqs = eventsA.filter((e) => "seq" in e).map((e) => (e as { seq: number }).seq)
        assert.deepStrictEqual(
          seqs,
          [...seqs].sort((x, y) => x - y)
        )
        assert.strictEqual(new Set(seqs).size, seqs.length)
        const framesOf = (c: RawClient) => c.frames.filter((f) => f.includes('"seq"'))
        assert.deepStrictEqual(framesOf(a).slice(0, framesOf(b).length), framesOf(b))
        assert.deepStrictEqual(eventsA, eventsB)
      })
    )

    it.scopedLive(
      "a coding-agent turn: question, permission, files, terminal, usage, completion; files readable after",
      () =>
        Effect.gen(function* () {
          const { gateway, open } = yield* harness.make()
          const client = yield* devClient(open)
          const { session } = yield* createAndJoin(client, "coding-agent")
          yield* client.send({ type: "run_turn", sessionId: session.id, text: "add an add function" })
          const question = yield* client.next("question_requested")
          assert.strictEqual(question.questions[0]!.id, "runner")
          yield* client.send({
            type: "answer_question",
            sessionId: session.id,
            requestId: question.requestId,
            answers: { runner: "node:test" }
          })
          const resolved = yield* client.next("approval_resolved")
          assert.deepStrictEqual([resolved.requestId, resolved.resolution], [question.requestId, "answered"])
          const permission = yield* client.next("permission_requested")
          assert.strictEqual(permission.toolName, "run_command")
          yield* client.send({
            type: "answer_question",
            sessionId: session.id,
            requestId: permission.requestId,
            answers: { decision: "approve" }
          })
          const rest = yield* collectTurn(client)
          const types = new Set(client.log.map((e) => e.type))
          for (const t of [
            "thinking_start",
            "thinking_progress",
            "thinking_complete",
            "tool_call_start",
            "tool_call_delta",
            "tool_call",
            "tool_result",
            "file_changed",
            "terminal_stream",
            "terminal_complete",
            "usage_update",
            "usage_context",
            "sandbox_ready",
            "session_state"
          ]) {
            assert.isTrue(types.has(t as ServerEvent.Type), t)
          }
          const done = rest[rest.length - 1]!
          assert.strictEqual(done.type === "turn_complete" && done.finalText.includes("its test passes"), true)

          const file = yield* client.request(
            { type: "read_file", sessionId: session.id, path: "test/add.test.ts" },
            "file_content"
          )
          assert.include(file.content, "runner: node:test")
          const listing = yield* client.request({ type: "list_files", sessionId: session.id }, "file_list")
          assert.deepStrictEqual(
            listing.entries.map((e) => [e.path, e.kind]),
            [
              ["src", "directory"],
              ["test", "directory"]
            ]
          )
          const deep = yield* client.request(
            { type: "list_files", sessionId: session.id, path: "src", depth: 0 },
            "file_list"
          )
          assert.deepStrictEqual(
            deep.entries.map((e) => e.path),
            ["src/add.ts"]
          )
          const history = yield* client.request(
            { type: "file_history", sessionId: session.id, path: "src/add.ts" },
            "file_history_result"
          )
          assert.strictEqual(history.versions.length, 1)
          assert.match(history.versions[0]!.hash, /^[0-9a-f]{64}$/)
          const atIteration = yield* client.request(
            {
              type: "file_at_iteration",
              sessionId: session.id,
              path: "src/add.ts",
              iteration: history.versions[0]!.iteration
            },
            "file_content"
          )
          assert.strictEqual(atIteration.iteration, history.versions[0]!.iteration)
          const before = yield* client.request(
            { type: "file_at_iteration", sessionId: session.id, path: "src/add.ts", iteration: 0 },
            "error"
          )
          assert.strictEqual(before.code, "FILE_NOT_FOUND")
          const msgs = yield* client.request({ type: "get_history", sessionId: session.id }, "history")
          assert.deepStrictEqual(
            msgs.messages.map((m) => m.role),
            ["user", "assistant"]
          )
          // `afterSeq` is a position in the log: only what was recorded after that event.
          const firstEnd = (yield* gateway.sessionLog(session.id)).find((e) => e.type === "turn_complete")!.seq
          yield* gateway.scriptNextTurn(session.id, [{ type: "text_delta", text: "ok" }])
          yield* client.send({ type: "run_turn", sessionId: session.id, text: "again" })
          yield* client.nextWhere("turn_complete", (e) => e.finalText === "ok")
          const later = yield* client.request(
            { type: "get_history", sessionId: session.id, afterSeq: firstEnd },
            "history"
          )
          assert.deepStrictEqual(
            later.messages.map((m) => [m.role, m.role === "user" ? m.content : ""]),
            [
              ["user", "again"],
              ["assistant", ""]
            ]
          )
        })
    )

    it.scopedLive("steer reaches the agent; stop_turn acknowledges and ends the turn; one turn at a time", () =>
      Effect.gen(function* () {
        const { open } = yield* harness.make()
        const client = yield* devClient(open)
        const { session } = yield* createAndJoin(client, "coding-agent")
        const noTurn = yield* client.request({ type: "steer", sessionId: session.id, content: "x" }, "error")
        assert.strictEqual(noTurn.code, "NO_ACTIVE_TURN")
        yield* client.send({ type: "run_turn", sessionId: session.id, text: "work" })
        yield* client.next("turn_started")
        const busy = yield* client.request({ type: "run_turn", sessionId: session.id, text: "again" }, "error")
        assert.strictEqual(busy.code, "TURN_IN_PROGRESS")
        yield* client.send({ type: "steer", sessionId: session.id, content: "use vitest" })
        assert.strictEqual((yield* client.next("steer_sent")).content, "use vitest")
        const question = yield* client.next("question_requested")
        yield* client.send({
          type: "answer_question",
          sessionId: session.id,
          requestId: question.requestId,
          answers: {},
          dismissed: true
        })
        assert.strictEqual((yield* client.next("approval_resolved")).resolution, "dismissed")
        const permission = yield* client.next("permission_requested")
        const text = client.log
          .filter((e) => e.type === "text_delta")
          .map((e) => (e as { text: string }).text)
          .join("")
        assert.include(text, 'Noted: "use vitest"')
        yield* client.send({ type: "stop_turn", sessionId: session.id })
        const ack = yield* client.next("stop_acknowledged")
        assert.strictEqual(ack.turnId, question.turnId)
        const complete = yield* client.next("turn_complete")
        assert.strictEqual(complete.turnId, question.turnId)
        assert.strictEqual(complete.finalText, text)
        const late = yield* client.request(
          { type: "answer_question", sessionId: session.id, requestId: permission.requestId, answers: {} },
          "error"
        )
        assert.deepStrictEqual([late.code, late.requestId], ["QUESTION_NOT_FOUND", permission.requestId])
      })
    )

    it.scopedLive(
      "join with afterSeq replays what follows; a forgotten range is a gap; mid-turn join gets stream_snapshot",
      () =>
        Effect.gen(function* () {
          const { open, gateway } = yield* harness.make({ retention: 1000 })
          const a = yield* devClient(open)
          const { session } = yield* createAndJoin(a)
          yield* a.send({ type: "run_turn", sessionId: session.id, text: "one two three four five six seven" })
          const turn = yield* collectTurn(a)
          const seqs = turn.filter((e) => "seq" in e).map((e) => (e as { seq: number }).seq)
          const b = yield* devClient(open)
          yield* b.send({ type: "join_session", sessionId: session.id, afterSeq: 3 })
          yield* b.next("state_snapshot")
          const replayed: Array<number> = []
          for (;;) {
            const event = yield* b.any()
            if (event.type === "replay_complete") {
              const log = yield* gateway.sessionLog(session.id)
              assert.strictEqual(event.lastSeq, log[log.length - 1]!.seq)
              assert.isAtLeast(event.lastSeq ?? -1, Math.max(...seqs))
              break
            }
            if ("seq" in event) replayed.push((event as { seq: number }).seq)
          }
          assert.deepStrictEqual(
            replayed,
            (yield* gateway.sessionLog(session.id)).map((e) => e.seq).filter((s) => s > 3)
          )

          yield* gateway.forgetEvents(session.id, 5)
          const c = yield* devClient(open)
          yield* c.send({ type: "join_session", sessionId: session.id, afterSeq: 2 })
          const gap = yield* c.next("gap")
          assert.deepStrictEqual([gap.fromSeq, gap.toSeq], [3, 5])
          yield* c.next("replay_complete")
          const afterGap = c.log[c.log.indexOf(gap) + 1]!
          assert.strictEqual((afterGap as { seq?: number }).seq, 6)

          const coding = yield* createAndJoin(a, "coding-agent")
          yield* a.send({ type: "run_turn", sessionId: coding.session.id, text: "go" })
          const question = yield* a.next("question_requested")
          const soFar = a.log
            .filter((e) => e.type === "text_delta" && e.sessionId === coding.session.id)
            .map((e) => (e as { text: string }).text)
            .join("")
          const d = yield* devClient(open)
          const snapshot = yield* d.request({ type: "join_session", sessionId: coding.session.id }, "state_snapshot")
          assert.deepStrictEqual([snapshot.currentTurn?.text, snapshot.currentTurn?.status], [soFar, "waiting"])
          const stream = yield* d.next("stream_snapshot")
          assert.deepStrictEqual([stream.text, stream.seq, stream.turnId], [soFar, question.seq, question.turnId])
        })
    )

    it.scopedLive("retention is bounded: old events are gone from get_events and replay starts with a gap", () =>
      Effect.gen(function* () {
        const { open, gateway } = yield* harness.make({ retention: 5 })
        const a = yield* devClient(open)
        const { session } = yield* createAndJoin(a)
        yield* a.send({ type: "run_turn", sessionId: session.id, text: "a b c d e f g h i j k l m n o p" })
        yield* collectTurn(a)
        const log = yield* gateway.sessionLog(session.id)
        assert.strictEqual(log.length, 5)
        const events = yield* a.request(
          { type: "get_events", sessionId: session.id, afterSeq: 0, limit: 100 },
          "events"
        )
        assert.deepStrictEqual(
          events.events.map((e) => (e as { seq: number }).seq),
          log.map((e) => e.seq)
        )
        const limited = yield* a.request({ type: "get_events", sessionId: session.id, limit: 2 }, "events")
        assert.strictEqual(limited.events.length, 2)
        yield* a.send({ type: "join_session", sessionId: session.id, afterSeq: 0 })
        const gap = yield* a.next("gap")
        assert.deepStrictEqual([gap.fromSeq, gap.toSeq], [1, log[0]!.seq - 1])
      })
    )

    it.scopedLive("requestId is echoed on replies and errors when on, never when off", () =>
      Effect.gen(function* () {
        const on = yield* harness.make()
        const a = yield* devClient(on.open)
        assert.strictEqual(
          (yield* a.request({ type: "list_sessions", requestId: "x-1" }, "session_list")).requestId,
          "x-1"
        )
        assert.strictEqual(
          (yield* a.request({ type: "read_file", sessionId: "nope", path: "a", requestId: "x-2" }, "error")).requestId,
          "x-2"
        )
        const off = yield* harness.make({ requestIds: false })
        const b = yield* off.open
        const welcome = yield* b.next("welcome")
        assert.deepStrictEqual(welcome.features, [])
        const list = yield* b.request({ type: "list_sessions", requestId: "x-3" }, "session_list")
        assert.isUndefined(list.requestId)
        assert.notInclude(b.frames.join(""), "x-3")
      })
    )

    it.scopedLive("manage_members: anyone lists; only admins change roles or remove", () =>
      Effect.gen(function* () {
        const { open } = yield* harness.make({ users: [alice, bob] })
        const b = yield* signedIn(open, "bob-token")
        const list = yield* b.request({ type: "manage_members", action: "list" }, "member_list")
        assert.deepStrictEqual(
          list.members.map((m) => [m.userId, m.role]),
          [
            ["u-alice", "admin"],
            ["u-bob", "member"]
          ]
        )
        const forbidden = yield* b.request({ type: "manage_members", action: "remove", userId: "u-alice" }, "error")
        assert.strictEqual(forbidden.code, "FORBIDDEN")
        const a = yield* signedIn(open, "alice-token")
        const updated = yield* a.request(
          { type: "manage_members", action: "set_role", userId: "u-bob", role: "viewer" },
          "member_updated"
        )
        assert.deepStrictEqual(updated.member, { userId: "u-bob", email: "bob@example.com", role: "viewer" })
        const removed = yield* a.request(
          { type: "manage_members", action: "remove", userId: "u-bob" },
          "member_removed"
        )
        assert.strictEqual(removed.userId, "u-bob")
        const missing = yield* a.request({ type: "manage_members", action: "remove", userId: "u-bob" }, "error")
        assert.strictEqual(missing.code, "MEMBER_NOT_FOUND")
      })
    )

    it.scopedLive("bad frames get an error event; the connection and its neighbours carry on", ({ task }) =>
      Effect.gen(function* () {
        const { open } = yield* harness.make({ maxFrameBytes: 4096 })
        const a = yield* devClient(open)
        const b = yield* devClient(open)
        const cases: ReadonlyArray<[string, string, string]> = [
          ["{nope", "INVALID_MESSAGE", "message: invalid JSON"],
          ['{"type":"subscribe"}', "UNKNOWN_TYPE", 'subscribe.type: unknown client message type "subscribe"'],
          ['{"type":"ping","ts":"now"}', "INVALID_MESSAGE", "ping.ts: expected epoch milliseconds"],
          [
            '{"type":"join_session","sessionId":7}',
            "INVALID_MESSAGE",
            "join_session.sessionId: expected a string, got 7"
          ],
          [
            '{"type":"ping","ts":9223372036854775807}',
            "INVALID_MESSAGE",
            "ping.ts: expected epoch milliseconds (non-negative safe integer), got 9223372036854775807"
          ],
          ["[]", "INVALID_MESSAGE", "message: expected an object"],
          ['{"__proto__":{"polluted":1},"type":"ping","ts":1}', "", ""]
        ]
        Object.assign(task.meta, { table: "hostile client frames", rows: cases.length })
        for (const [frame, code, message] of cases) {
          yield* a.sendText(frame)
          if (code === "") {
            yield* a.next("pong")
            continue
          }
          const error = yield* a.next("error")
          assert.strictEqual(error.code, code, frame)
          assert.include(error.message, message)
        }
        assert.isUndefined(({} as { polluted?: unknown }).polluted)
        if (harness.name === "in memory") {
          yield* a.sendText(JSON.stringify({ type: "ping", ts: 1, pad: "x".repeat(5000) }))
          assert.strictEqual((yield* a.next("error")).code, "FRAME_TOO_LARGE")
        }
        assert.strictEqual((yield* a.request({ type: "ping", ts: 2 }, "pong")).ts, 2)
        assert.strictEqual((yield* b.request({ type: "ping", ts: 3 }, "pong")).ts, 3)
        assert.isFalse(b.log.some((e) => e.type === "error"))
      })
    )

    it.scopedLive("faults: stall, delay, duplicate, reorder, raw frames, drop, shutdown", () =>
      Effect.gen(function* () {
        const { open, gateway } = yield* harness.make()
        const a = yield* devClient(open)
        const [control] = yield* gateway.connections
        yield* control!.faults.stopPongs
        yield* a.send({ type: "ping", ts: 1 })
        const silent = yield* Effect.either(a.next("pong", "300 millis"))
        assert.isTrue(silent._tag === "Left")
        yield* control!.faults.clear
        assert.strictEqual((yield* a.request({ type: "ping", ts: 2 }, "pong")).ts, 2)

        const { session } = yield* createAndJoin(a)
        yield* gateway.scriptNextTurn(
          session.id,
          [1, 2, 3, 4, 5, 6].map((i) => ({ type: "text_delta", text: `${i}` }))
        )
        yield* control!.faults.duplicateSessionEvents(1)
        yield* control!.faults.reorderSessionEvents(1)
        yield* a.send({ type: "run_turn", sessionId: session.id, text: "x" })
        const turn = yield* collectTurn(a)
        // The first pair is swapped and each of the pair is sent twice: n+1, n+1, n, n, then n+2...
        const seqs = turn.map((e) => (e as { seq: number }).seq)
        const n = seqs[2]!
        assert.deepStrictEqual(seqs.slice(0, 5), [n + 1, n + 1, n, n, n + 2])

        yield* control!.sendRaw("this is not json")
        yield* control!.sendRaw('{"type":"future_event","x":1}')
        const unknown = yield* a.next("unknown")
        assert.deepStrictEqual(unknown.payload, { type: "future_event", x: 1 })

        yield* control!.sendShutdown("maintenance", 250)
        const shutdown = yield* a.next("server_shutdown")
        assert.deepStrictEqual([shutdown.reason, shutdown.reconnectAfterMs], ["maintenance", 250])
        yield* control!.drop(4000, "test drop")
        const closed = yield* Deferred.await(a.closed)
        assert.deepStrictEqual(closed, { code: 4000, reason: "test drop" })
      })
    )
  })
}

describe("Gateway under TestClock", () => {
  it.scoped("heartbeats follow the configured interval", () =>
    Effect.gen(function* () {
      const { open } = yield* inMemory.make({ heartbeatIntervalMs: 1000 })
      const client = yield* devClient(open)
      const waiting = yield* Effect.fork(client.next("heartbeat", "1 hour"))
      yield* TestClock.adjust("999 millis")
      assert.isFalse(client.log.some((e) => e.type === "heartbeat"))
      yield* TestClock.adjust("1 millis")
      const beat = yield* Fiber.join(waiting)
      assert.strictEqual(beat.ts, 1000)
      for (const expected of [2000, 3000, 4000]) {
        const nextBeat = yield* Effect.fork(client.next("heartbeat", "1 hour"))
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Fiber.join(nextBeat)).ts, expected)
      }
    })
  )

  it.scoped("agent steps run on the Effect clock", () =>
    Effect.gen(function* () {
      const { open } = yield* inMemory.make({ agentStepMs: 100, heartbeatIntervalMs: 0 })
      const client = yield* devClient(open)
      const { session } = yield* createAndJoin(client)
      yield* client.send({ type: "run_turn", sessionId: session.id, text: "a" })
      yield* client.next("turn_started", "1 hour")
      const complete = yield* Effect.fork(client.next("turn_complete", "1 hour"))
      yield* TestClock.adjust("10 seconds")
      const event = yield* Fiber.join(complete)
      assert.strictEqual(event.finalText, "Echo: a")
    })
  )
})

describe("Gateway properties", () => {
  const counted = (ctx: { readonly task: { readonly meta: object } }) => {
    const meta = ctx.task.meta as { property?: boolean; cases?: number }
    meta.property = true
    meta.cases = (meta.cases ?? 0) + 1
  }
  const hostile = fc.oneof(
    Arbitrary.make(ClientMessage.ClientMessage).map((m) => JSON.stringify(m)),
    fc.string(),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.constantFrom(
      '{"type":"ping","ts":9223372036854775807}',
      '{"__proto__":{"polluted":1},"type":"list_sessions"}',
      '{"type":{"toString":null}}',
      `{"type":"run_turn","sessionId":"sess-1","text":"${"x".repeat(2000)}"}`,
      "[".repeat(5000)
    )
  )

  for (const harness of harnesses) {
    it.scopedLive.prop(
      `${harness.name}: any sequence of hostile frames from one client leaves the gateway answering it and its neighbours`,
      [fc.array(hostile, { minLength: 1, maxLength: 30 })],
      ([frames], ctx) =>
        Effect.gen(function* () {
          counted(ctx)
          const { open } = yield* harness.make({ heartbeatIntervalMs: 0, maxFrameBytes: 8192 })
          const attacker = yield* devClient(open)
          const neighbour = yield* devClient(open)
          const { session } = yield* createAndJoin(neighbour)
          for (const frame of frames) yield* attacker.sendText(frame)
          // A ts no generated frame uses: the pong that answers this ping.
          const marker = 7_777_777_777
          yield* attacker.send({ type: "ping", ts: marker })
          yield* attacker.nextWhere("pong", (pong) => pong.ts === marker)
          yield* neighbour.send({ type: "ping", ts: marker })
          yield* neighbour.nextWhere("pong", (pong) => pong.ts === marker)
          assert.isFalse(neighbour.log.some((e) => e.type === "error"))
          assert.isUndefined(({} as { polluted?: unknown }).polluted)
          const snapshot = yield* neighbour.request({ type: "join_session", sessionId: session.id }, "state_snapshot")
          assert.strictEqual(snapshot.session.id, session.id)
        }),
      { fastCheck: { numRuns: harness === inMemory ? 60 : 30 } }
    )
  }
})

describe("the seed profile sends only what the seeds fix", () => {
  /** Every added field found in what the gateway sent, as `type.field`. */
  const addedFields = (frames: ReadonlyArray<string>) =>
    frames.flatMap((frame) => {
      const event = JSON.parse(frame) as Record<string, unknown>
      const inner = event.type === "events" ? (event.events as Array<Record<string, unknown>>) : []
      return [event, ...inner].flatMap((e) => {
        const added = ServerEvent.additions[e.type as ServerEvent.KnownType]
        return added === undefined
          ? []
          : Object.keys(e)
              .filter((key) => added.has(key))
              .map((key) => `${e.type}.${key}`)
      })
    })

  /** A dev-mode conversation touching every kind of reply and a streamed turn. */
  const converse = (raw: RawClient) =>
    Effect.gen(function* () {
      yield* raw.next("welcome")
      const created = yield* raw.request(
        ClientMessage.make("create_session", { agentType: "echo", name: "s" }),
        "session_created"
      )
      const sessionId = created.session.id
      yield* raw.request(ClientMessage.make("list_sessions", {}), "session_list")
      yield* raw.request(ClientMessage.make("join_session", { sessionId }), "state_snapshot")
      yield* raw.send(ClientMessage.make("run_turn", { sessionId, text: "hi", clientTurnId: "c-1" }))
      yield* raw.next("turn_complete")
      yield* raw.request(ClientMessage.make("join_session", { sessionId, afterSeq: 0 }), "replay_complete")
      yield* raw.request(ClientMessage.make("get_history", { sessionId }), "history")
      yield* raw.request(ClientMessage.make("get_events", { sessionId }), "events")
      yield* raw.request(ClientMessage.make("ping", { ts: 1 }), "pong")
      yield* raw.request(ClientMessage.make("list_files", { sessionId }), "file_list")
      yield* raw.request(ClientMessage.make("manage_members", { action: "list" }), "member_list")
      yield* raw.request(ClientMessage.make("rename_session", { sessionId, name: "t" }), "session_updated")
      yield* raw.request(ClientMessage.make("read_file", { sessionId, path: "missing" }), "error")
    })

  it.scopedLive("a conversation in dev mode: no added field, no requestId or clientTurnId echo, no authenticated", () =>
    Effect.gen(function* () {
      const seed = yield* inMemory.make({ profile: "seed", heartbeatIntervalMs: 0 })
      const raw = yield* seed.open
      yield* converse(raw)
      assert.deepStrictEqual(addedFields(raw.frames), [])
      assert.isFalse(raw.log.some((event) => event.type === "authenticated"))
      // The same conversation with the default profile carries them: the check above can fail.
      const full = yield* inMemory.make({ heartbeatIntervalMs: 0 })
      const rawFull = yield* full.open
      yield* converse(rawFull)
      const fullAdded = addedFields(rawFull.frames)
      for (const field of [
        "welcome.serverVersion",
        "turn_started.clientTurnId",
        "pong.serverTs",
        "error.requestType"
      ]) {
        assert.include(fullAdded, field)
      }
    })
  )
})

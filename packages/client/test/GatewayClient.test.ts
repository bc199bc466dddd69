import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import type { ServerEvent } from "@diminuendo/protocol"
import type { Gateway } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as GatewayClient from "../src/GatewayClient.js"
import type { GatewayError } from "../src/GatewayError.js"
import * as Transport from "../src/Transport.js"
import {
  expectWholeEchoTurn,
  harnesses,
  inMemory,
  overWs,
  seedProfile,
  watchEchoTurn,
  watchSession,
  watchStates
} from "./harness.js"

const alice = {
  token: "alice-secret-token",
  identity: { userId: "u-alice", email: "alice@example.com", tenantId: "acme" },
  role: "admin"
}

const answerEverything =
  (client: GatewayClient.GatewayClient, sessionId: string) => (item: GatewayClient.SessionItem) =>
    item.type === "question_requested"
      ? Effect.asVoid(
          client.answerQuestion(sessionId, item.requestId, {
            [item.questions[0]!.id]: item.questions[0]!.options?.[0] ?? "ok"
          })
        )
      : item.type === "permission_requested"
        ? Effect.asVoid(client.answerQuestion(sessionId, item.requestId, { decision: "approve" }))
        : Effect.void

for (const harness of harnesses) {
  describe(`GatewayClient ${harness.name}`, () => {
    it.scopedLive("connects in dev mode and reports its identity and state", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* harness.setup()
        const c = yield* client()
        const identity = yield* c.identity
        const state = yield* c.state.get
        const [control] = yield* gateway.connections
        if (harness.profile === "full") {
          assert.strictEqual(identity._tag === "Some" && identity.value.email, "dev@localhost")
          assert.deepStrictEqual(state._tag === "Connected" && state.connectionId, control!.id)
          assert.deepStrictEqual(state._tag === "Connected" && state.gateway.features, ["requestId"])
        } else {
          // The seeds' dev mode: connected at the welcome, no identity, no connection id, no features.
          assert.isTrue(identity._tag === "None")
          assert.deepStrictEqual(state._tag === "Connected" && [state.connectionId, state.gateway], [
            "connection-1",
            {
              serverVersion: undefined,
              protocolVersion: undefined,
              requiresAuth: false,
              features: [],
              heartbeatIntervalMs: undefined
            }
          ])
        }
        const { latencyMs } = yield* c.ping
        assert.isAtLeast(latencyMs, 0)
      })
    )

    it.scopedLive(
      "authentication: token accepted; missing token fails fast with AuthRequired; bad token AuthFailed",
      () =>
        Effect.gen(function* () {
          const { client } = yield* harness.setup({ users: [alice] })
          const c = yield* client({ token: Redacted.make(alice.token) })
          assert.deepStrictEqual(Option_get(yield* c.identity), alice.identity)
          const missing = yield* Effect.flip(client())
          assert.deepStrictEqual(
            [missing.reason, missing.message],
            ["AuthRequired", "Authentication required but no token was provided"]
          )
          const bad = yield* Effect.flip(client({ token: Redacted.make("wrong") }))
          assert.deepStrictEqual(
            [bad.reason, bad.code, bad.message],
            ["AuthFailed", "AUTH_FAILED", "AUTH_FAILED: Authentication failed"]
          )
          const fresh = yield* client({ token: Effect.succeed(Redacted.make(alice.token)) })
          assert.deepStrictEqual(yield* fresh.refreshToken(Redacted.make(alice.token)), alice.identity)
        })
    )

    it.scopedLive("every request method returns its typed reply", () =>
      Effect.gen(function* () {
        const { client } = yield* harness.setup()
        const c = yield* client()
        const session = yield* c.createSession("coding-agent", "one")
        assert.strictEqual(session.name, "one")
        assert.strictEqual((yield* c.renameSession(session.id, "two")).name, "two")
        assert.isTrue((yield* c.archiveSession(session.id)).archived)
        assert.deepStrictEqual(
          (yield* c.listSessions()).map((s) => s.id),
          []
        )
        assert.deepStrictEqual(
          (yield* c.listSessions(true)).map((s) => s.id),
          [session.id]
        )
        assert.isFalse((yield* c.unarchiveSession(session.id)).archived)
        const snapshot = yield* c.joinSession(session.id)
        assert.strictEqual(snapshot.session.id, session.id)
        const items = yield* c
          .turn(session.id, "build")
          .pipe(Stream.tap(answerEverything(c, session.id)), Stream.runCollect)
        const last = Chunk.unsafeLast(items)
        assert.strictEqual(last.type, "turn_complete")
        const files = yield* c.listFiles({ sessionId: session.id, path: "", depth: 0 })
        assert.deepStrictEqual(
          files.filter((f) => f.kind === "file").map((f) => f.path),
          ["src/add.ts", "test/add.test.ts"]
        )
        const content = yield* c.readFile(session.id, "src/add.ts")
        assert.include(content.content, "export const add")
        const versions = yield* c.fileHistory(session.id, "src/add.ts")
        const old = yield* c.fileAtIteration(session.id, "src/add.ts", versions[0]!.iteration)
        assert.strictEqual(old.content, content.content)
        assert.deepStrictEqual(
          (yield* c.getHistory({ sessionId: session.id })).map((m) => m.role),
          ["user", "assistant"]
        )
        const events = yield* c.getEvents({ sessionId: session.id, afterSeq: 0, limit: 5 })
        assert.strictEqual(events.length, 5)
        const members = yield* c.manageMembers({ action: "list" })
        assert.strictEqual(members.type, "member_list")
        yield* c.leaveSession(session.id)
        yield* c.deleteSession(session.id)
        const error = yield* Effect.flip(c.readFile(session.id, "src/add.ts"))
        assert.deepStrictEqual(
          [error.reason, error.code, error.requestType],
          ["ServerError", "SESSION_NOT_FOUND", "read_file"]
        )
      })
    )

    it.scopedLive("steer, stop and a turn's Stream: the stream ends with the turn", () =>
      Effect.gen(function* () {
        const { client } = yield* harness.setup()
        const c = yield* client()
        const session = yield* c.createSession("coding-agent")
        yield* c.joinSession(session.id)
        const questions = yield* Deferred.make<ServerEvent.QuestionRequested>()
        const turn = yield* c.turn(session.id, "work").pipe(
          Stream.tap((item) => (item.type === "question_requested" ? Deferred.succeed(questions, item) : Effect.void)),
          Stream.runCollect,
          Effect.fork
        )
        const question = yield* Deferred.await(questions)
        const steered = yield* c.steer(session.id, "be brief")
        const ack = yield* c.stopTurn(session.id)
        if (harness.profile === "full") {
          assert.strictEqual(steered.content, "be brief")
          assert.strictEqual(ack.turnId, question.turnId)
        } else {
          assert.deepStrictEqual(
            [steered.type, steered.content, ack.type, ack.turnId],
            ["steer_sent", undefined, "stop_acknowledged", undefined]
          )
        }
        const items = yield* Fiber.join(turn)
        const last = Chunk.unsafeLast(items)
        assert.strictEqual(last.type === "turn_complete" && last.turnId, question.turnId)
        const busy = yield* Effect.flip(c.steer(session.id, "late"))
        assert.strictEqual(busy.code, "NO_ACTIVE_TURN")
      })
    )

    for (const requestIds of [true, false]) {
      it.scopedLive(
        `many requests in flight resolve to their own replies (requestId ${requestIds ? "on" : "off"})`,
        () =>
          Effect.gen(function* () {
            const { client, gateway } = yield* harness.setup({ requestIds })
            const c = yield* client()
            const sessions = yield* Effect.forEach([1, 2, 3], (i) => c.createSession("echo", `s${i}`), {
              concurrency: "unbounded"
            })
            assert.deepStrictEqual(sessions.map((s) => s.name).sort(), ["s1", "s2", "s3"])
            // Replies of one kind come back out of order with delays on some.
            yield* gateway.faults.delay("session_updated", 20)
            const renamed = yield* Effect.forEach(
              Array.from({ length: 30 }, (_, i) => [sessions[i % 3]!.id, `name-${i}`] as const),
              ([id, name]) => Effect.map(c.renameSession(id, name), (meta) => [id, name, meta] as const),
              { concurrency: "unbounded" }
            )
            for (const [id, name, meta] of renamed) {
              assert.strictEqual(meta.id, id)
              if (requestIds) assert.strictEqual(meta.name, name)
            }
            const mixed = yield* Effect.all(
              [
                c.listSessions(),
                c.getHistory({ sessionId: sessions[0]!.id }),
                c.ping,
                Effect.flip(c.readFile(sessions[1]!.id, "nope")),
                c.listSessions(true)
              ],
              { concurrency: "unbounded" }
            )
            assert.strictEqual(mixed[0].length, 3)
            assert.strictEqual(mixed[3].code, "FILE_NOT_FOUND")
          })
      )
    }

    it.scopedLive(
      "malformed frames go to diagnostics; the connection survives and the next event arrives",
      ({ task }) =>
        Effect.gen(function* () {
          Object.assign(task.meta, { table: "malformed server frames", rows: 4 })
          const { client, gateway } = yield* harness.setup()
          const c = yield* client()
          const diagnostics = yield* c.diagnostics.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
          const unknowns = yield* c.eventsOf("unknown").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
          yield* Effect.sleep("20 millis")
          const [control] = yield* gateway.connections
          yield* control!.sendRaw("{not json")
          yield* control!.sendRaw('{"type":"text_delta","sessionId":"s","turnId":"t","seq":-1,"ts":1,"text":"x"}')
          yield* control!.sendRaw('{"type":"pong","ts":"soon","serverTs":1}')
          yield* control!.sendRaw('{"type":"agent_mood","mood":"great"}')
          const reports = Chunk.toReadonlyArray(yield* Fiber.join(diagnostics))
          assert.deepStrictEqual(
            reports.map((d) => d.reason),
            ["InvalidJson", "InvalidMessage", "InvalidMessage"]
          )
          assert.strictEqual(
            reports[1]!.message,
            "text_delta.seq: expected a sequence number (non-negative safe integer), got -1"
          )
          const unknown = Chunk.unsafeHead(yield* Fiber.join(unknowns))
          assert.deepStrictEqual(unknown.payload, { type: "agent_mood", mood: "great" })
          assert.isAtLeast((yield* c.ping).latencyMs, 0)
        })
    )

    it.scopedLive("reconnect and resume: drops mid-turn lose and duplicate nothing", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* harness.setup({ agentStepMs: 2 })
        const c = yield* client({ reconnectSchedule: Schedule.spaced("5 millis") })
        const turn = yield* watchEchoTurn(c, 60)
        for (const code of [undefined, 1011, undefined]) {
          yield* Effect.sleep("15 millis")
          const [control] = yield* gateway.connections
          if (control !== undefined) yield* control.drop(code)
        }
        yield* expectWholeEchoTurn(gateway, turn)
      })
    )
  })
}

describe("GatewayClient and future session events", () => {
  it.scopedLive("an unknown event type carrying sessionId and seq keeps its place on the session stream: no gap", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      const c = yield* client()
      const session = yield* c.createSession("echo")
      yield* c.joinSession(session.id)
      const items = yield* (yield* c.subscribeSession(session.id)).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      const [control] = yield* gateway.connections
      const delta = (seq: number) => ({
        type: "text_delta",
        sessionId: session.id,
        turnId: "t",
        seq,
        ts: 1,
        text: `${seq}`
      })
      yield* control!.sendRaw(JSON.stringify(delta(1)))
      yield* control!.sendRaw(
        JSON.stringify({ type: "agent_mood", sessionId: session.id, seq: 2, ts: 1, mood: "great" })
      )
      yield* control!.sendRaw(JSON.stringify(delta(3)))
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(items).pipe(Effect.timeout("2 seconds")))
      assert.deepStrictEqual(
        seen.map((item) => [item.type, item.type === "gap" ? null : item.seq]),
        [
          ["text_delta", 1],
          ["unknown", 2],
          ["text_delta", 3]
        ]
      )
    })
  )
})

describe("GatewayClient reconnect policy", () => {
  for (const harness of [inMemory, seedProfile(inMemory)])
    it.scopedLive(
      `${harness.name}: in flight at a drop: idempotent requests are re-sent, the others fail with ConnectionLost`,
      () =>
        Effect.gen(function* () {
          const { client, gateway } = yield* harness.setup()
          const c = yield* client({ reconnectSchedule: Schedule.spaced("5 millis") })
          const [control] = yield* gateway.connections
          yield* control!.faults.stall("session_list")
          yield* control!.faults.stall("session_created")
          const read = yield* Effect.fork(c.listSessions())
          const write = yield* Effect.fork(Effect.flip(c.createSession("echo", "maybe")))
          yield* Effect.sleep("30 millis")
          yield* control!.drop()
          const lost = yield* Fiber.join(write)
          assert.deepStrictEqual([lost.reason, lost.requestType], ["ConnectionLost", "create_session"])
          assert.include(lost.message, "whether the gateway acted on it is unknown")
          const sessions = yield* Fiber.join(read)
          assert.isArray(sessions)
        })
    )

  it.scopedLive("server_shutdown: reconnect after its delay", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup()
      const c = yield* client()
      const states = yield* c.state.changes.pipe(Stream.take(4), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("10 millis")
      yield* gateway.shutdown("maintenance", 40)
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(states))
      assert.deepStrictEqual(
        seen.map((s) => s._tag),
        ["Connected", "Reconnecting", "Connecting", "Connected"]
      )
      const reconnecting = seen[1]!
      assert.deepStrictEqual(reconnecting._tag === "Reconnecting" && [reconnecting.delayMs, reconnecting.reason], [
        40,
        "server shutdown"
      ])
    })
  )

  it.scopedLive(
    "a request Effect built before a reconnect and run after it (a retry, a repeat) goes out on the new connection",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup()
        const c = yield* client({ requestTimeout: "2 seconds", reconnectSchedule: Schedule.spaced("10 millis") })
        const list = c.listSessions()
        const ping = c.ping
        assert.isArray(yield* list)
        const states = yield* watchStates(c, 4)
        const [first] = yield* gateway.connections
        yield* first!.drop(4000)
        assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
        const started = Date.now()
        assert.isArray(yield* list)
        assert.isAtLeast((yield* ping).latencyMs, 0)
        assert.isBelow(Date.now() - started, 1000)
      })
  )

  it.scopedLive(
    "a leaveSession waiting for a connection when the client closes fails with Closed, as requests do",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup()
        const outcome = yield* Effect.scoped(
          Effect.gen(function* () {
            const c = yield* client({ reconnectSchedule: Schedule.spaced("1 hour") })
            const session = yield* c.createSession("echo")
            yield* c.joinSession(session.id)
            const states = yield* watchStates(c, 2)
            const [control] = yield* gateway.connections
            yield* control!.drop(4000)
            assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting"])
            const leave = yield* Effect.fork(Effect.flip(c.leaveSession(session.id)))
            const list = yield* Effect.fork(Effect.flip(c.listSessions()))
            yield* Effect.sleep("20 millis")
            return { leave, list }
          })
        )
        assert.strictEqual((yield* Fiber.join(outcome.leave)).reason, "Closed")
        assert.strictEqual((yield* Fiber.join(outcome.list)).reason, "Closed")
      })
  )

  it.scopedLive("a stored runTurn Effect run twice starts two turns, each with its own clientTurnId", () =>
    Effect.gen(function* () {
      const { client } = yield* inMemory.setup()
      const c = yield* client()
      const session = yield* c.createSession("echo")
      const items = yield* c.subscribeSession(session.id)
      const start = c.runTurn(session.id, "again")
      const first = yield* start
      yield* items.pipe(
        Stream.takeUntil((item) => item.type === "turn_complete"),
        Stream.runDrain
      )
      const second = yield* start
      assert.notStrictEqual(second.turnId, first.turnId)
      assert.isString(first.clientTurnId)
      assert.notStrictEqual(second.clientTurnId, first.clientTurnId)
    })
  )

  it.scopedLive("a requestTimeout longer than a JavaScript timer (30 days) waits without spinning the timer", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      const overflows: Array<string> = []
      const onWarning = (warning: Error) => {
        if (warning.name === "TimeoutOverflowWarning") overflows.push(warning.message)
      }
      process.on("warning", onWarning)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("warning", onWarning)))
      const c = yield* client({ requestTimeout: "30 days", pingInterval: "30 days", silenceTimeout: 0 })
      yield* gateway.faults.stall("session_list")
      const stalled = yield* Effect.fork(c.listSessions())
      yield* Effect.sleep("200 millis")
      assert.isNull(yield* Fiber.poll(stalled).pipe(Effect.map((o) => (o._tag === "None" ? null : o))))
      assert.deepStrictEqual(overflows, [])
    })
  )

  it.scopedLive(
    "state.changes ends on Closed: when the client closes, when it gives up reconnecting; a later reader gets Closed, then the end",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup()
        const closedByScope = yield* Effect.scoped(
          Effect.gen(function* () {
            const c = yield* client()
            const changes = yield* c.state.changes.pipe(Stream.runCollect, Effect.fork)
            yield* Effect.sleep("10 millis")
            return { c, changes }
          })
        )
        const seen = yield* Fiber.join(closedByScope.changes).pipe(Effect.timeout("2 seconds"))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(seen).map((s) => s._tag),
          ["Connected", "Closed"]
        )
        const later = yield* closedByScope.c.state.changes.pipe(Stream.runCollect, Effect.timeout("2 seconds"))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(later).map((s) => s._tag),
          ["Closed"]
        )
        const c = yield* client({ autoReconnect: false })
        const changes = yield* c.state.changes.pipe(Stream.runCollect, Effect.fork)
        yield* Effect.sleep("10 millis")
        const [control] = yield* gateway.connections
        yield* control!.drop(4000)
        const gaveUp = yield* Fiber.join(changes).pipe(Effect.timeout("2 seconds"))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(gaveUp).map((s) => s._tag),
          ["Connected", "Closed"]
        )
      })
  )

  it.scopedLive("events missed while away and no longer retained are surfaced as a gap", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ retention: 3 })
      const c = yield* client({ reconnectSchedule: Schedule.spaced("150 millis") })
      const other = yield* client()
      const { sessionId, items } = yield* watchSession(c)
      const [control] = yield* gateway.connections
      yield* control!.drop(1012)
      yield* other.runTurn(sessionId, "one two three four five six seven eight")
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(items))
      const gap = seen.find((i) => i.type === "gap")
      assert.isDefined(gap)
      const log = yield* gateway.sessionLog(sessionId)
      assert.strictEqual(gap!.type === "gap" && gap!.toSeq, log[0]!.seq - 1)
      const after = seen.slice(seen.indexOf(gap!) + 1).map((i) => (i as { seq: number }).seq)
      assert.deepStrictEqual(after, log.map((e) => e.seq).slice(0, after.length))
    })
  )
})

describe("GatewayClient reconnect policy under TestClock (in memory)", () => {
  /** Lets the fibers run without moving the clock, until `done` holds (bounded). */
  const settle = (done: Effect.Effect<boolean>) =>
    Effect.gen(function* () {
      for (let i = 0; i < 200 && !(yield* done); i++) yield* Effect.yieldNow()
    })

  it.scoped("server_shutdown: the reconnect happens at its delay, not a millisecond before", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      const c = yield* client()
      const connectionId = ((yield* c.state.get) as { connectionId: string }).connectionId
      yield* gateway.shutdown("maintenance", 40)
      yield* TestClock.adjust("39 millis")
      const before = yield* c.state.get
      assert.deepStrictEqual(before._tag === "Reconnecting" && [before.delayMs, before.reason], [40, "server shutdown"])
      yield* TestClock.adjust("1 millis")
      yield* settle(Effect.map(c.state.get, (state) => state._tag === "Connected"))
      const after = yield* c.state.get
      assert.isTrue(after._tag === "Connected" && after.connectionId !== connectionId)
    })
  )

  it.scoped("drops mid-turn lose and duplicate nothing, with the agent and the backoff on virtual time", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ agentStepMs: 2, heartbeatIntervalMs: 0 })
      const c = yield* client({ reconnectSchedule: Schedule.spaced("5 millis") })
      const turn = yield* watchEchoTurn(c, 60)
      for (const code of [undefined, 1011, undefined]) {
        yield* TestClock.adjust("15 millis")
        // Reconnected 5 ms after the previous drop: there is a connection to drop.
        const [control] = yield* gateway.connections
        assert.isDefined(control)
        yield* control!.drop(code)
      }
      for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(turn.items)); i++) {
        yield* TestClock.adjust("5 millis")
      }
      yield* expectWholeEchoTurn(gateway, turn)
    })
  )
})

describe("GatewayClient reconnect policy at exact points", () => {
  const user = { token: "exact-token", identity: { userId: "u", email: "u@exact", tenantId: "t" } }

  for (const point of ["authenticated", "replay_complete"] as const) {
    it.scopedLive(`a drop while waiting for ${point} after a reconnect loses and duplicates nothing`, () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ users: [user], heartbeatIntervalMs: 0, agentStepMs: 1 })
        const c = yield* client({ token: Redacted.make(user.token), reconnectSchedule: Schedule.spaced("5 millis") })
        const turn = yield* watchEchoTurn(c, 30)
        yield* Effect.sleep("10 millis")
        // The next connection gets stuck exactly at `point`: drop it there, then let it through.
        yield* gateway.faults.stall(point)
        const [first] = yield* gateway.connections
        yield* first!.drop()
        let stuck: Array<Gateway.ConnectionControl> = []
        for (let i = 0; i < 200 && stuck.length === 0; i++) {
          yield* Effect.sleep("5 millis")
          stuck = (yield* gateway.connections).filter((conn) => conn.id !== first!.id)
        }
        assert.strictEqual(stuck.length, 1, "a new connection is waiting")
        yield* Effect.sleep("20 millis")
        // Stuck in the handshake: not connected yet; stuck in the replay: connected, re-joining.
        const state = (yield* c.state.get)._tag
        if (point === "authenticated") assert.strictEqual(state, "Connecting")
        else assert.strictEqual(state, "Connected")
        yield* stuck[0]!.drop(1011)
        yield* gateway.faults.clear
        yield* expectWholeEchoTurn(gateway, turn)
      })
    )
  }
})

describe("GatewayClient in dev mode: the unprompted identity at every interleaving", () => {
  const identity = { userId: "u", email: "u@dev", tenantId: "t" }

  /**
   * Connects on a scripted transport under a scheduler the test steps by hand: the `welcome`
   * (no authentication required), then `steps` rounds of scheduled fiber work, then the
   * `authenticated` that names the connection, then enough rounds for everything to settle.
   * Returns what the client says its identity is, and the connection state's identity.
   */
  const connectWithIdentityAfter = (steps: number) => {
    const scheduler = new Scheduler.ControlledScheduler()
    let driver: Transport.ConnectionDriver | undefined
    const transport: Transport.Transport["Type"] = {
      open: () =>
        Effect.sync(() => {
          driver = Transport.makeConnection({
            send: () => Effect.void,
            close: () => Effect.void,
            onFull: () => {},
            onDrained: () => {}
          })
          return driver.connection
        })
    }
    const scope = Effect.runSync(Scope.make())
    const connecting = Effect.runFork(
      GatewayClient.make({ url: "memory://dev", pingInterval: 0, silenceTimeout: 0 }).pipe(
        Effect.provideService(Transport.Transport, transport),
        Scope.extend(scope),
        Effect.provide(Logger.minimumLogLevel(LogLevel.None)),
        Effect.withScheduler(scheduler)
      )
    )
    for (let i = 0; i < 100 && driver === undefined; i++) scheduler.step()
    for (let i = 0; i < 5; i++) scheduler.step()
    driver!.receive(JSON.stringify({ type: "welcome", protocolVersion: 1, requiresAuth: false }))
    for (let i = 0; i < steps; i++) scheduler.step()
    driver!.receive(JSON.stringify({ type: "authenticated", identity }))
    for (let i = 0; i < 200; i++) scheduler.step()
    const exit = connecting.unsafePoll()
    const client = exit !== null && Exit.isSuccess(exit) ? exit.value : undefined
    const seen = client === undefined ? undefined : Effect.runSync(client.identity)
    const state = client === undefined ? undefined : Effect.runSync(client.state.get)
    // Whatever the client still schedules runs on the default scheduler from here.
    scheduler.deferred = true
    void Effect.runPromise(Scope.close(scope, Exit.void))
    return {
      identity: seen !== undefined && Option.isSome(seen) ? seen.value : undefined,
      stateIdentity: state?._tag === "Connected" ? state.identity : undefined
    }
  }

  it("an authenticated that arrives while the connection is being set up is kept (it names the tenant)", () => {
    for (let steps = 0; steps <= 30; steps++) {
      const seen = connectWithIdentityAfter(steps)
      assert.deepStrictEqual(
        seen.identity,
        identity,
        `identity with the authenticated ${steps} rounds after the welcome`
      )
      assert.deepStrictEqual(
        seen.stateIdentity,
        identity,
        `state with the authenticated ${steps} rounds after the welcome`
      )
    }
  })
})

describe("GatewayClient lifecycle and secrets", () => {
  it.scopedLive("closing the client fails what is pending with Closed; the gateway sees the connection go", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* overWs.setup()
      const scope = yield* Scope.make()
      const c = yield* Scope.extend(client(), scope)
      const [control] = yield* gateway.connections
      yield* control!.faults.stall("session_list")
      const pendingRequest = yield* Effect.fork(Effect.flip(c.listSessions()))
      yield* Effect.sleep("20 millis")
      yield* Scope.close(scope, Exit.void)
      const error = yield* Fiber.join(pendingRequest)
      assert.strictEqual(error.reason, "Closed")
      yield* Effect.sleep("50 millis")
      assert.strictEqual((yield* gateway.connections).length, 0)
      const afterwards = yield* Effect.flip(c.ping)
      assert.strictEqual(afterwards.reason, "NotConnected")
    })
  )

  it.live("opening and closing 1,000 clients over ws leaves no handles, timers or fibers behind", () =>
    Effect.gen(function* () {
      const handles = () => process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap").length
      const supervisor = yield* Supervisor.track
      yield* Effect.scoped(
        Effect.gen(function* () {
          const { client } = yield* overWs.setup()
          yield* Effect.scoped(client())
          // The supervisor sees a live client's fibers (so the final check can fail).
          const open = yield* Scope.make()
          yield* client().pipe(Scope.extend(open), Effect.supervised(supervisor))
          assert.isAbove((yield* supervisor.value).length, 0)
          yield* Scope.close(open, Exit.void)
          const before = handles()
          for (let i = 0; i < 1000; i++) {
            yield* Effect.scoped(Effect.zipRight(client(), Effect.void)).pipe(Effect.supervised(supervisor))
          }
          yield* Effect.sleep("100 millis")
          // Sockets, servers and timers (Timeout) the clients created are all gone.
          assert.isAtMost(handles(), before + 2)
          // Every fiber a client forked has ended.
          assert.deepStrictEqual((yield* supervisor.value).length, 0)
        })
      )
    })
  )

  it.scopedLive("the token appears in no log line, error message or client value", () =>
    Effect.gen(function* () {
      const secret = "s3cr3t-token-value"
      const lines: Array<string> = []
      const logger = Logger.make(({ message, annotations }) => {
        lines.push(JSON.stringify({ message, annotations: [...annotations] }))
      })
      const user = { token: secret, identity: { userId: "u", email: "u@x", tenantId: "t" } }
      const run = Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ users: [user] })
        const c = yield* client({ token: Redacted.make(secret) })
        const bad = yield* Effect.flip(client({ token: Redacted.make(`${secret}-wrong`) }))
        lines.push(bad.message, String(bad), JSON.stringify(bad))
        const [control] = yield* gateway.connections
        yield* control!.drop()
        yield* Effect.sleep("400 millis")
        lines.push(
          JSON.stringify(yield* c.state.get),
          String(Redacted.make(secret)),
          JSON.stringify({ t: Redacted.make(secret) })
        )
        yield* c.refreshToken(Redacted.make(secret))
      })
      yield* Effect.scoped(run).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      assert.isAbove(lines.length, 3)
      for (const line of lines) assert.notInclude(line, secret)
    })
  )
})

const Option_get = <A>(option: { readonly _tag: "Some"; readonly value: A } | { readonly _tag: "None" }) =>
  option._tag === "Some" ? option.value : undefined

describe("GatewayClient timeouts", () => {
  it.scoped("connecting fails with ConnectionFailed at connectTimeout when the socket never opens", () =>
    Effect.gen(function* () {
      const attempt = yield* GatewayClient.make({ url: "ws://nowhere", connectTimeout: "10 seconds" }).pipe(
        Effect.provideService(Transport.Transport, { open: () => Effect.never }),
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("9999 millis")
      assert.isNull(yield* Fiber.poll(attempt).pipe(Effect.map((o) => (o._tag === "None" ? null : o))))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(attempt)
      assert.deepStrictEqual(
        [error.reason, error.message],
        ["ConnectionFailed", "no connection to ws://nowhere within 10s"]
      )
    })
  )

  it.scoped("connecting fails at connectTimeout when the gateway never completes the handshake", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      yield* gateway.faults.stall("welcome")
      const attempt = yield* Effect.fork(Effect.flip(client({ connectTimeout: "5 seconds" })))
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(attempt)
      assert.deepStrictEqual(
        [error.reason, error.message],
        ["ConnectionFailed", "Connection timeout while waiting for authentication"]
      )
    })
  )

  const stalledRequests: ReadonlyArray<
    readonly [string, string, (c: GatewayClient.GatewayClient) => Effect.Effect<unknown, GatewayError>]
  > = [
    ["list_sessions", "session_list", (c) => c.listSessions()],
    ["create_session", "session_created", (c) => c.createSession("echo")],
    ["get_history", "history", (c) => c.getHistory({ sessionId: "sess-404" })],
    ["ping", "pong", (c) => c.ping]
  ]
  for (const [requestType, replyType, call] of stalledRequests)
    for (const harness of [inMemory, seedProfile(inMemory)]) {
      it.scoped(
        `${harness.name}: a ${requestType} the gateway never answers times out at its deadline; others are unaffected`,
        ({ task }) =>
          Effect.gen(function* () {
            Object.assign(task.meta, { table: "requests that are never answered" })
            const { client, gateway } = yield* harness.setup({ heartbeatIntervalMs: 0 })
            const c = yield* client({ requestTimeout: "10 seconds", silenceTimeout: 0 })
            yield* gateway.faults.stall(replyType)
            // For get_history the reply would be an error (no such session): stall those too.
            if (requestType === "get_history") yield* gateway.faults.stall("error")
            const stalled = yield* Effect.fork(Effect.either(call(c)))
            yield* TestClock.adjust("5 seconds")
            const other = requestType === "ping" ? c.listSessions() : c.ping
            yield* other
            assert.isNull(yield* Fiber.poll(stalled).pipe(Effect.map((o) => (o._tag === "None" ? null : o))))
            yield* TestClock.adjust("5 seconds")
            const result = yield* Fiber.join(stalled)
            assert.isTrue(Either.isLeft(result))
            const error = Either.flip(result).pipe(Either.getOrThrow)
            assert.deepStrictEqual(
              [error.reason, error.message],
              ["RequestTimeout", `Request timeout for ${requestType}`]
            )
          })
      )
    }

  it.scopedLive("a silent connection is dropped after the silence timeout and the client reconnects", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      const c = yield* client({ silenceTimeout: "300 millis", reconnectSchedule: Schedule.spaced("10 millis") })
      const [first] = yield* gateway.connections
      const states = yield* watchStates(c, 4)
      assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
      const [second] = yield* gateway.connections
      assert.notStrictEqual(second!.id, first!.id)
    })
  )
})

describe("GatewayClient and oversized frames", () => {
  it.scopedLive("in memory: a frame over maxMessageBytes is reported (FrameTooLarge) and the connection goes on", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup()
      const c = yield* client({ maxMessageBytes: 4096 })
      const reports = yield* c.diagnostics.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("10 millis")
      const [control] = yield* gateway.connections
      yield* control!.sendRaw(JSON.stringify({ type: "future_event", blob: "x".repeat(10_000) }))
      const report = Chunk.unsafeHead(yield* Fiber.join(reports))
      assert.strictEqual(report.reason, "FrameTooLarge")
      assert.isAtMost(report.excerpt.length, 203)
      assert.isAtLeast((yield* c.ping).latencyMs, 0)
    })
  )

  it.scopedLive("over ws: the socket refuses a frame over maxMessageBytes (1009) and the client reconnects", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* overWs.setup()
      const c = yield* client({ maxMessageBytes: 4096, reconnectSchedule: Schedule.spaced("5 millis") })
      const states = yield* watchStates(c, 4)
      yield* Effect.sleep("10 millis")
      const [control] = yield* gateway.connections
      yield* control!.sendRaw(JSON.stringify({ type: "future_event", blob: "x".repeat(10_000) }))
      assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
      assert.isAtLeast((yield* c.ping).latencyMs, 0)
    })
  )
})

/**
 * A transport that plays a gateway by hand: each connection answers the handshake (requestIds
 * on), records what the client sends, and closes when the test says.
 */
const scriptedTransport = Effect.gen(function* () {
  const connections: Array<{ readonly sent: Array<string>; readonly drop: Effect.Effect<void> }> = []
  const opened = yield* Queue.unbounded<number>()
  const transport = {
    open: () =>
      Effect.gen(function* () {
        const closed = yield* Deferred.make<Transport.CloseInfo>()
        const sent: Array<string> = []
        connections.push({ sent, drop: Deferred.succeed(closed, { code: 1006, reason: "" }).pipe(Effect.asVoid) })
        yield* Queue.offer(opened, connections.length)
        let deliver: Transport.FrameHandler = () => undefined
        const connection: Transport.Connection = {
          send: (frame) =>
            Effect.sync(() => {
              sent.push(frame)
              const message = JSON.parse(frame)
              if (message.type !== "join_session") return
              const session = {
                id: message.sessionId,
                tenantId: "t",
                name: null,
                agentType: "echo",
                status: "ready",
                archived: false,
                createdAt: 1,
                updatedAt: 1,
                lastActivityAt: null
              }
              const snapshot = { type: "state_snapshot", sessionId: message.sessionId, session, currentTurn: null }
              const rest = { recentHistory: [], subscriberCount: 1, sandbox: null, requestId: message.requestId }
              // With `afterSeq` the replay follows the snapshot, then `replay_complete` (here: nothing to replay).
              const replayed =
                message.afterSeq === undefined
                  ? []
                  : [JSON.stringify({ type: "replay_complete", sessionId: message.sessionId })]
              queueMicrotask(() => deliver([JSON.stringify({ ...snapshot, ...rest }), ...replayed]))
            }),
          run: (handler) =>
            Effect.zipRight(
              Effect.sync(() =>
                (deliver = handler)([
                  JSON.stringify({
                    type: "welcome",
                    serverVersion: "t",
                    protocolVersion: 1,
                    requiresAuth: false,
                    features: ["requestId"]
                  }),
                  JSON.stringify({ type: "authenticated", identity: { userId: "u", email: "u@t", tenantId: "t" } })
                ])
              ),
              Deferred.await(closed)
            ),
          close: () => Effect.asVoid(Deferred.succeed(closed, { code: 1000, reason: "" }))
        }
        return connection
      })
  }
  return { transport, connections, opened }
})

describe("GatewayClient requests parked while disconnected", () => {
  it.scopedLive(
    "are sent on the next connection: a fresh requestId for a request, answer_question keeps its question's id",
    () =>
      Effect.gen(function* () {
        const { transport, connections, opened } = yield* scriptedTransport
        const c = yield* GatewayClient.make({
          url: "memory://scripted",
          pingInterval: 0,
          reconnectSchedule: Schedule.spaced("300 millis")
        }).pipe(Effect.provideService(Transport.Transport, transport))
        assert.strictEqual(yield* Queue.take(opened), 1)
        yield* c.joinSession("sess-1")
        yield* connections[0]!.drop
        // Disconnected: both are parked until the reconnect, 300 ms later.
        yield* Effect.sleep("50 millis")
        yield* Effect.fork(c.answerQuestion("sess-1", "question-7", { q1: "yes" }))
        yield* Effect.fork(c.readFile("sess-1", "a.ts"))
        yield* Effect.sleep("50 millis")
        assert.strictEqual(yield* Queue.take(opened), 2)
        yield* Effect.sleep("50 millis")
        const sent = connections[1]!.sent.map((frame) => JSON.parse(frame) as Record<string, unknown>)
        const answer = sent.find((m) => m.type === "answer_question")!
        const read = sent.find((m) => m.type === "read_file")!
        assert.strictEqual(answer.requestId, "question-7")
        assert.deepStrictEqual(answer.answers, { q1: "yes" })
        assert.isString(read.requestId)
        assert.notStrictEqual(read.requestId, "question-7")
      })
  )
})

describe("GatewayClient validates what it sends", () => {
  it.scopedLive("a request the Schema rejects fails at once with ProtocolError, and nothing is sent", () =>
    Effect.gen(function* () {
      const { client } = yield* inMemory.setup()
      const c = yield* client({ requestTimeout: "1 hour" })
      const session = yield* c.createSession("echo")
      const error = yield* Effect.flip(c.getHistory({ sessionId: session.id, limit: 1.5 })).pipe(
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(error.reason, "ProtocolError")
      assert.strictEqual(error.requestType, "get_history")
      assert.include(error.message, "get_history.limit")
      // The connection is unaffected: the next request is answered.
      assert.isTrue((yield* c.getHistory({ sessionId: session.id })).length >= 0)
    })
  )
})

describe("GatewayClient observability", () => {
  it.scopedLive("every request runs in a span named after its type, with the session id", () =>
    Effect.gen(function* () {
      const spans: Array<Tracer.Span> = []
      const base = yield* Effect.tracer
      const recording = Tracer.make({
        context: base.context,
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        }
      })
      yield* Effect.gen(function* () {
        const { client } = yield* inMemory.setup()
        const c = yield* client()
        const session = yield* c.createSession("echo")
        yield* c.readFile(session.id, "nope").pipe(Effect.ignore, Effect.withSpan("caller"))
      }).pipe(Effect.withTracer(recording))
      const byName = new Map(spans.map((span) => [span.name, span]))
      assert.isTrue(byName.has("GatewayClient.create_session"))
      const read = byName.get("GatewayClient.read_file")!
      assert.strictEqual(read.attributes.get("diminuendo.type"), "read_file")
      assert.match(String(read.attributes.get("diminuendo.session_id")), /^sess-/)
      assert.strictEqual(read.status._tag, "Ended")
      // A child of the caller's span, so it lands in the caller's trace.
      assert.strictEqual(Option.getOrThrow(read.parent).spanId, byName.get("caller")!.spanId)
    })
  )
})

describe("GatewayClient leaves nothing running", () => {
  it.live("a script that uses the client (keepalive and heartbeats on) exits by itself", () =>
    Effect.gen(function* () {
      const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "exits-by-itself.ts")
      const started = Date.now()
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, ["--conditions=diminuendo-source", "--import", "tsx", script], {
          cwd: path.join(path.dirname(fileURLToPath(import.meta.url)), ".."),
          timeout: 20_000
        })
      )
      assert.deepStrictEqual(stdout.trim().split("\n"), ["done", "resolved"])
      assert.isBelow(Date.now() - started, 20_000)
    })
  )
})

describe("GatewayClient options", () => {
  // Each would switch a bound off without a word (NaN and Infinity compare false with everything).
  const invalid: ReadonlyArray<readonly [keyof GatewayClient.GatewayClientOptions, unknown, string]> = [
    ["maxMessageBytes", Number.NaN, "a positive safe integer, got NaN"],
    ["maxMessageBytes", 0, "a positive safe integer, got 0"],
    ["eventBuffer", Number.POSITIVE_INFINITY, "a positive safe integer, got Infinity"],
    ["eventBuffer", 0, "a positive safe integer, got 0"],
    ["eventBufferBytes", 1.5, "a positive safe integer, got 1.5"],
    ["eventBufferBytes", "64", 'a positive safe integer, got string "64"'],
    ["reorderWindow", -1, "a non-negative safe integer, got -1"],
    ["reorderWindow", Number.NaN, "a non-negative safe integer, got NaN"],
    ["maxMissedPongs", 0, "a positive safe integer, got 0"],
    ["maxMissedPongs", Number.NaN, "a positive safe integer, got NaN"]
  ]
  for (const [name, value, expected] of invalid) {
    it.scoped(
      `${name}: ${String(value)} makes the client die with a RangeError naming it, before any socket`,
      ({ task }) =>
        Effect.gen(function* () {
          Object.assign(task.meta, { table: "invalid client options" })
          let opened = 0
          const exit = yield* GatewayClient.make({
            url: "ws://nowhere",
            [name]: value
          } as GatewayClient.GatewayClientOptions).pipe(
            Effect.provideService(Transport.Transport, {
              open: () => {
                opened++
                return Effect.never
              }
            }),
            Effect.exit
          )
          assert.isTrue(Exit.isFailure(exit))
          const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          assert.instanceOf(defect, RangeError)
          assert.strictEqual((defect as RangeError).message, `GatewayClient: ${name} must be ${expected}`)
          assert.strictEqual(opened, 0)
        })
    )
  }
})

/**
 * The client against gateways that send only what the seeds fix: handshakes without our fields, a
 * protocol version it does not speak, tokens that are blank, resuming without `lastSeq`, and turns
 * confirmed without the `clientTurnId` echo.
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Gateway, InMemory, WsServer } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as GatewayClient from "../src/GatewayClient.js"
import * as Transport from "../src/Transport.js"
import { inMemory, overWs, seedProfile } from "./harness.js"

/**
 * A transport whose one gateway greets with `welcome` (and `extra` frames), answers `authenticate`
 * with `authenticated` when `acceptToken` says so, and records what the client sends.
 */
const scripted = (options: {
  readonly welcome: Record<string, unknown>
  readonly extra?: ReadonlyArray<Record<string, unknown>>
  readonly acceptToken?: (token: string) => boolean
  /** What the gateway answers a `ping` with (nothing when absent). */
  readonly pong?: (ping: Record<string, unknown>) => Record<string, unknown>
}) => {
  const sent: Array<Record<string, unknown>> = []
  const identity = { userId: "u", email: "u@seed", tenantId: "t" }
  const transport: Transport.Transport["Type"] = {
    open: () =>
      Effect.gen(function* () {
        const closed = yield* Deferred.make<Transport.CloseInfo>()
        const driver = Transport.makeConnection({
          send: (frame) =>
            Effect.sync(() => {
              const message = JSON.parse(frame) as Record<string, unknown>
              sent.push(message)
              const pong = message.type === "ping" ? options.pong?.(message) : undefined
              if (pong !== undefined) queueMicrotask(() => driver.receive(JSON.stringify(pong)))
              if (message.type === "authenticate") {
                const ok = options.acceptToken?.(message.token as string) ?? false
                queueMicrotask(() =>
                  driver.receive(
                    JSON.stringify(
                      ok
                        ? { type: "authenticated", identity }
                        : { type: "error", code: "AUTH_FAILED", message: "Authentication failed" }
                    )
                  )
                )
              }
            }),
          close: (code, reason) => Effect.asVoid(Deferred.succeed(closed, { code, reason })),
          onFull: () => {},
          onDrained: () => {}
        })
        for (const frame of [options.welcome, ...(options.extra ?? [])]) driver.receive(JSON.stringify(frame))
        yield* Effect.addFinalizer(() => Effect.sync(() => driver.closed({ code: 1000, reason: "" })))
        return driver.connection
      })
  }
  return { transport, sent, identity }
}

const connect = (transport: Transport.Transport["Type"], options: Partial<GatewayClient.GatewayClientOptions> = {}) =>
  GatewayClient.make({ url: "memory://seed", pingInterval: 0, silenceTimeout: 0, ...options }).pipe(
    Effect.provideService(Transport.Transport, transport)
  )

describe("handshake with a gateway that sends only what the seeds fix", () => {
  it.scoped("a welcome with no field at all, and no token: AuthRequired at connectTimeout, not before", () =>
    Effect.gen(function* () {
      const { transport } = scripted({ welcome: { type: "welcome" } })
      const attempt = yield* Effect.fork(Effect.flip(connect(transport, { connectTimeout: "10 seconds" })))
      yield* TestClock.adjust("9999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(attempt)))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(attempt)
      assert.deepStrictEqual(
        [error.reason, error.message],
        [
          "AuthRequired",
          "the gateway did not say whether it requires authentication, sent no identity within 10s, and no token was provided"
        ]
      )
    })
  )

  it.scoped("a welcome with no field at all, and a token: the client authenticates", () =>
    Effect.gen(function* () {
      const { identity, sent, transport } = scripted({ welcome: { type: "welcome" }, acceptToken: (t) => t === "tok" })
      const client = yield* connect(transport, { token: Redacted.make("tok") })
      assert.deepStrictEqual(
        sent.map((m) => m.type),
        ["authenticate"]
      )
      assert.deepStrictEqual(Option.getOrUndefined(yield* client.identity), identity)
      const state = yield* client.state.get
      assert.deepStrictEqual(state._tag === "Connected" && state.gateway, {
        serverVersion: undefined,
        protocolVersion: undefined,
        requiresAuth: undefined,
        features: [],
        heartbeatIntervalMs: undefined
      })
    })
  )

  it.scoped("requiresAuth false and no authenticated after it: connected in dev mode at once, no identity", () =>
    Effect.gen(function* () {
      const { sent, transport } = scripted({ welcome: { type: "welcome", requiresAuth: false } })
      const client = yield* connect(transport)
      assert.strictEqual((yield* client.state.get)._tag, "Connected")
      assert.isTrue(Option.isNone(yield* client.identity))
      assert.deepStrictEqual(sent, [])
    })
  )

  it.scoped("an authenticated that comes later in dev mode names the identity on the state", () =>
    Effect.gen(function* () {
      const { identity, transport } = scripted({
        welcome: { type: "welcome", requiresAuth: false },
        extra: [
          { type: "connected" },
          { type: "authenticated", identity: { userId: "d", email: "d@dev", tenantId: "t" } }
        ]
      })
      const client = yield* connect(transport)
      const state = yield* client.state.get
      assert.deepStrictEqual(state._tag === "Connected" && state.identity, {
        userId: "d",
        email: "d@dev",
        tenantId: "t"
      })
      assert.notDeepEqual(identity, { userId: "d", email: "d@dev", tenantId: "t" })
    })
  )

  it.scoped("requiresAuth true and no token: AuthRequired at once", () =>
    Effect.gen(function* () {
      const { transport } = scripted({ welcome: { type: "welcome", requiresAuth: true } })
      const error = yield* Effect.flip(connect(transport))
      assert.deepStrictEqual(
        [error.reason, error.message],
        ["AuthRequired", "Authentication required but no token was provided"]
      )
    })
  )

  for (const blank of ["", "   "]) {
    it.scoped(`a token of ${JSON.stringify(blank)} is no token: AuthRequired, and nothing is sent`, () =>
      Effect.gen(function* () {
        const { sent, transport } = scripted({
          welcome: { type: "welcome", requiresAuth: true },
          acceptToken: () => false
        })
        const error = yield* Effect.flip(connect(transport, { token: Redacted.make(blank) }))
        assert.strictEqual(error.reason, "AuthRequired")
        assert.deepStrictEqual(sent, [])
      })
    )
  }

  it.scoped("a welcome with protocolVersion 99: IncompatibleProtocol naming both versions", () =>
    Effect.gen(function* () {
      const { transport } = scripted({ welcome: { type: "welcome", requiresAuth: false, protocolVersion: 99 } })
      const error = yield* Effect.flip(connect(transport))
      assert.deepStrictEqual(
        [error.reason, error.message],
        ["IncompatibleProtocol", "the gateway speaks protocol version 99; this client speaks 1"]
      )
    })
  )

  it.scoped("a welcome with protocolVersion 1: compatible", () =>
    Effect.gen(function* () {
      const { transport } = scripted({ welcome: { type: "welcome", requiresAuth: false, protocolVersion: 1 } })
      const client = yield* connect(transport)
      const state = yield* client.state.get
      assert.strictEqual(state._tag === "Connected" && state.gateway.protocolVersion, 1)
    })
  )
})

describe("what the gateway said about itself, after every (re)connect", () => {
  it.scopedLive(
    "reconnected to another gateway: Connected carries the new welcome's info, and events shows the new connection's welcome, connected and authenticated",
    () =>
      Effect.gen(function* () {
        const first = yield* Gateway.make({ serverVersion: "first/1", heartbeatIntervalMs: 0 })
        const second = yield* Gateway.make({ serverVersion: "second/2", heartbeatIntervalMs: 5_000 })
        let opened = 0
        const transport: Transport.Transport["Type"] = {
          open: () => InMemory.connect(++opened === 1 ? first : second)
        }
        const client = yield* connect(transport, { reconnectSchedule: Schedule.spaced("5 millis") })
        const before = yield* client.state.get
        assert.strictEqual(before._tag === "Connected" && before.gateway.serverVersion, "first/1")
        const events = yield* client.subscribeEvents
        const [control] = yield* first.connections
        yield* control!.drop()
        const after = yield* client.state.changes.pipe(
          Stream.filter((state) => state._tag === "Connected" && state.gateway.serverVersion !== "first/1"),
          Stream.runHead,
          Effect.timeout("10 seconds")
        )
        assert.deepStrictEqual(
          Option.map(after, (state) => state._tag === "Connected" && state.gateway),
          Option.some({
            serverVersion: "second/2",
            protocolVersion: 1,
            requiresAuth: false,
            features: ["requestId"],
            heartbeatIntervalMs: 5_000
          })
        )
        const connection = yield* events.pipe(
          Stream.filter((e) => e.type === "welcome" || e.type === "connected" || e.type === "authenticated"),
          Stream.take(3),
          Stream.runCollect,
          Effect.timeout("10 seconds")
        )
        const [welcome, connected] = Chunk.toReadonlyArray(connection)
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(connection).map((e) => e.type),
          ["welcome", "connected", "authenticated"]
        )
        assert.strictEqual(welcome?.type === "welcome" && welcome.serverVersion, "second/2")
        const [live] = yield* second.connections
        assert.strictEqual(connected?.type === "connected" && connected.connectionId, live!.id)
      })
  )
})

describe("ping against a gateway whose pong carries less", () => {
  for (const [name, pong] of [
    ["a pong echoing ts, without serverTs", (ping: Record<string, unknown>) => ({ type: "pong", ts: ping.ts })],
    ["a bare pong (no ts)", () => ({ type: "pong" })]
  ] as const) {
    it.scoped(`${name}: ping answers with a latency, and so does a second one`, () =>
      Effect.gen(function* () {
        const { transport } = scripted({ welcome: { type: "welcome", requiresAuth: false }, pong })
        const client = yield* connect(transport, { requestTimeout: "2 seconds" })
        for (let i = 0; i < 2; i++) assert.isAtLeast((yield* client.ping).latencyMs, 0)
      })
    )
  }

  it.scoped(
    "a bare pong with two pings waiting answers the older one; the other still waits for its own (and times out)",
    () =>
      Effect.gen(function* () {
        const pings: Array<Record<string, unknown>> = []
        const { transport } = scripted({
          welcome: { type: "welcome", requiresAuth: false },
          pong: (ping) => {
            pings.push(ping)
            return pings.length === 2 ? { type: "pong" } : undefined!
          }
        })
        const client = yield* connect(transport, { requestTimeout: "2 seconds" })
        const first = yield* Effect.fork(client.ping)
        yield* Effect.yieldNow()
        const second = yield* Effect.fork(Effect.either(client.ping))
        assert.isAtLeast((yield* Fiber.join(first)).latencyMs, 0)
        yield* TestClock.adjust("3 seconds")
        const late = yield* Fiber.join(second)
        assert.isTrue(Either.isLeft(late) && late.left.reason === "RequestTimeout")
      })
  )
})

for (const harness of [seedProfile(inMemory), seedProfile(overWs)]) {
  describe(`GatewayClient ${harness.name}: flows without our additions`, () => {
    it.scopedLive(
      "a turn started while reconnecting is confirmed by its own turn_started, not by another client's the re-join replays",
      () =>
        Effect.gen(function* () {
          const { client, gateway } = yield* harness.setup({ agentStepMs: 1 })
          const c = yield* client({ reconnectSchedule: Schedule.spaced("300 millis") })
          const other = yield* client()
          const session = yield* c.createSession("echo")
          yield* c.joinSession(session.id)
          const [control] = yield* gateway.connections
          yield* control!.drop()
          // While `c` is away, another client runs a whole turn in the session.
          yield* other.turn(session.id, "AAAA from the other client").pipe(Stream.runDrain)
          // Issued while reconnecting: parked, sent after the re-join's replay (which holds the
          // other turn's `turn_started`; without the `clientTurnId` echo it would confirm this one).
          const items = yield* c.turn(session.id, "BBBB mine").pipe(Stream.runCollect, Effect.timeout("10 seconds"))
          const text = Chunk.toReadonlyArray(items)
            .map((item) => (item.type === "text_delta" ? item.text : ""))
            .join("")
          assert.strictEqual(text, "Echo: BBBB mine")
        })
    )

    it.scopedLive("a session joined on a snapshot without lastSeq, dropped before its first event, loses nothing", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* harness.setup({ agentStepMs: 1 })
        const c = yield* client({ reconnectSchedule: Schedule.spaced("200 millis") })
        const other = yield* client()
        const session = yield* c.createSession("echo")
        const snapshot = yield* c.joinSession(session.id)
        assert.isUndefined(snapshot.lastSeq)
        const items = yield* (yield* c.subscribeSession(session.id)).pipe(
          Stream.takeUntil((item) => item.type === "turn_complete"),
          Stream.runCollect,
          Effect.timeout("10 seconds"),
          Effect.fork
        )
        const [control] = yield* gateway.connections
        yield* control!.drop()
        // The whole turn runs while `c` is away.
        yield* other.runTurn(session.id, "one two three four")
        const seen = Chunk.toReadonlyArray(yield* Fiber.join(items))
        const seqs = seen.map((item) => (item.type === "gap" ? -1 : item.seq))
        const log = yield* gateway.sessionLog(session.id)
        // Every event of the log up to the turn's end, once and in order: none lost in the outage.
        assert.deepStrictEqual(
          seqs,
          log.map((event) => event.seq).filter((seq) => seq <= seqs[seqs.length - 1]!)
        )
        const last = seen[seen.length - 1]!
        assert.strictEqual(last.type === "turn_complete" && last.finalText, "Echo: one two three four")
      })
    )

    it.scopedLive(
      "two callers race runTurn on one session: one turn starts, the other fails with TURN_IN_PROGRESS",
      () =>
        Effect.gen(function* () {
          const { client } = yield* harness.setup({ agentStepMs: 5 })
          const c = yield* client()
          const session = yield* c.createSession("echo")
          const [first, second] = yield* Effect.all(
            [Effect.either(c.runTurn(session.id, "first turn")), Effect.either(c.runTurn(session.id, "second turn"))],
            { concurrency: "unbounded" }
          )
          const outcomes = [first, second].map((r) => (Either.isRight(r) ? r.right.type : r.left.code))
          assert.sameMembers(outcomes, ["turn_started", "TURN_IN_PROGRESS"])
        })
    )

    it.scopedLive("questions and permissions: answer, approve and deny through the typed helpers", () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* harness.setup()
        const c = yield* client()
        for (const decision of ["approve", "deny"] as const) {
          const session = yield* c.createSession("coding-agent")
          const items = yield* c.turn(session.id, "work").pipe(
            Stream.tap((item) =>
              item.type === "question_requested"
                ? c.answer(session.id, item.requestId, { runner: "node:test" })
                : item.type === "permission_requested"
                  ? decision === "approve"
                    ? c.approve(session.id, item.requestId)
                    : c.deny(session.id, item.requestId)
                  : Effect.void
            ),
            Stream.runCollect
          )
          const last = Chunk.unsafeLast(items)
          assert.strictEqual(last.type, "turn_complete")
          const text = last.type === "turn_complete" ? last.finalText : ""
          assert.include(text, "Using node:test.")
          const ran = (yield* gateway.sessionLog(session.id)).some((e) => e.type === "terminal_complete")
          assert.strictEqual(ran, decision === "approve")
        }
      })
    )
  })
}

describe("the demo against the seed profile", () => {
  it.scopedLive("GATEWAY_URL=<a seed-profile gateway> pnpm demo completes the coding-agent turn", () =>
    Effect.gen(function* () {
      const gateway = yield* Gateway.make({ profile: "seed", agentStepMs: 1 })
      const server = yield* Effect.orDie(WsServer.serve(gateway))
      const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(
          process.execPath,
          ["--conditions=diminuendo-source", "--import", "tsx", path.join(root, "demo", "main.ts")],
          { cwd: root, timeout: 30_000, env: { ...process.env, GATEWAY_URL: server.url } }
        )
      )
      assert.include(stdout, "(dev mode, no identity given)")
      assert.include(stdout, "turn complete")
      assert.include(stdout, "export const add")
    })
  )
})

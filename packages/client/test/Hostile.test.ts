/**
 * Claims a red-team pass refuted (issue 11), each as a test that failed on the code before its fix:
 * no zombie after a defect in the frame path, connecting and closing end against a tarpit, one frame
 * cannot park the client, unanswered pings count, a log that goes backwards is noticed, errors meet
 * their own request, buffers are bounded in bytes, and bad frames do not flood the log.
 */
import * as net from "node:net"
import { Gateway, InMemory, WsServer } from "@diminuendo/testkit"
import * as Socket from "@effect/platform/Socket"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import WebSocket, { WebSocketServer } from "ws"
import type * as GatewayClient from "../src/GatewayClient.js"
import * as Client from "../src/GatewayClient.js"
import * as Broadcast from "../src/internal/broadcast.js"
import * as Sequencer from "../src/internal/sequencer.js"
import * as Sessions from "../src/internal/sessions.js"
import * as Warnings from "../src/internal/warnings.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Transport from "../src/Transport.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"
import { inMemory, overStandardWebSocket, overWs, seedProfile, watchStates } from "./harness.js"

/** Waits (bounded, live clock) until `done` holds. */
const eventually = <E, R>(done: Effect.Effect<boolean, E, R>, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 400; i++) {
      if (yield* done) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`timed out waiting until ${what}`)
  })

describe("a defect in the frame path never leaves a zombie", () => {
  it.scopedLive(
    "a frame whose handling throws: reported (HandlerDefect), the connection is re-made, requests work",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
        // The in-memory transport, with a way to hand the client a frame of our choosing.
        let handler: Transport.FrameHandler | undefined
        const transport: Transport.Transport["Type"] = {
          open: () =>
            Effect.map(inMemoryConnection(gateway), (connection) => ({
              ...connection,
              run: (h) => {
                handler = h
                return connection.run(h)
              }
            }))
        }
        const c = yield* connectWith(transport, { reconnectSchedule: Schedule.spaced("5 millis") })
        const reports = yield* c.diagnostics.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        const states = yield* watchStates(c, 4)
        yield* Effect.sleep("20 millis")
        const [first] = yield* gateway.connections
        // A binary frame whose size cannot even be read: the handler's own code throws on it.
        const hostile = new Proxy(new Uint8Array(1), {
          get: (target, key) => {
            if (key === "byteLength") throw new Error("boom")
            return Reflect.get(target, key)
          }
        })
        const work = handler!([hostile])
        if (work !== undefined) yield* work
        assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
        const report = Chunk.unsafeHead(yield* Fiber.join(reports))
        assert.strictEqual(report.reason, "HandlerDefect")
        assert.include(report.message, "boom")
        const [second] = yield* gateway.connections
        assert.notStrictEqual(second!.id, first!.id)
        assert.isAtLeast((yield* c.ping).latencyMs, 0)
      })
  )

  it.scopedLive(
    "a connection whose reader dies is reported (HandlerDefect), dropped and re-made, not left Connected answering nothing",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
        let opened = 0
        const transport: Transport.Transport["Type"] = {
          open: () =>
            Effect.map(inMemoryConnection(gateway), (connection) => {
              opened += 1
              // The first connection's reader hits a defect once the client is connected.
              return opened === 1
                ? {
                    ...connection,
                    run: (h) =>
                      Effect.zipRight(
                        Effect.race(connection.run(h), Effect.sleep("50 millis")),
                        Effect.die("reader defect")
                      )
                  }
                : connection
            })
        }
        const c = yield* connectWith(transport, {
          reconnectSchedule: Schedule.spaced("5 millis"),
          requestTimeout: "2 seconds"
        })
        const reports = yield* c.diagnostics.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        const states = yield* watchStates(c, 4)
        assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
        assert.strictEqual(opened, 2)
        const report = Chunk.unsafeHead(yield* Fiber.join(reports))
        assert.strictEqual(report.reason, "HandlerDefect")
        assert.include(report.message, "reader defect")
        assert.isAtLeast((yield* c.ping).latencyMs, 0)
      })
  )
})

describe("when the client gives up, nothing waits for it", () => {
  const identity = { userId: "u", email: "u@example.com", tenantId: "t" }
  for (const [why, setup] of [
    [
      "the token refused on reconnecting",
      Effect.gen(function* () {
        const knows = yield* Gateway.make({ heartbeatIntervalMs: 0, users: [{ token: "tok", identity }] })
        const forgot = yield* Gateway.make({ heartbeatIntervalMs: 0, users: [{ token: "other", identity }] })
        let opened = 0
        const transport: Transport.Transport["Type"] = {
          open: () => inMemoryConnection(++opened === 1 ? knows : forgot)
        }
        return { gateway: knows, options: { token: Redacted.make("tok"), transport } }
      })
    ],
    [
      "reconnecting off",
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
        const transport: Transport.Transport["Type"] = { open: () => inMemoryConnection(gateway) }
        return { gateway, options: { autoReconnect: false, transport } }
      })
    ]
  ] as const) {
    it.scopedLive(
      `${why}: session streams, events and a SessionState fail with NotConnected; so does a later subscription`,
      () =>
        Effect.gen(function* () {
          const { gateway, options } = yield* setup
          const { transport, ...clientOptions } = options
          const c = yield* connectWith(transport, { ...clientOptions, reconnectSchedule: Schedule.spaced("5 millis") })
          const session = yield* c.createSession("echo")
          const items = yield* c.subscribeSession(session.id)
          const events = yield* c.subscribeEvents
          const tracked = yield* c.sessionState(session.id)
          const [control] = yield* gateway.connections
          yield* control!.drop()
          const ends = yield* Effect.all(
            [
              Stream.runDrain(items),
              Stream.runDrain(events),
              Stream.runDrain(tracked.changes),
              Effect.flatMap(c.subscribeSession(session.id), Stream.runDrain)
            ].map((stream) => Effect.flip(stream).pipe(Effect.timeout("5 seconds"))),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(
            ends.map((error) => error.reason),
            ["NotConnected", "NotConnected", "NotConnected", "NotConnected"]
          )
          assert.strictEqual((yield* c.state.get)._tag, "Closed")
        })
    )
  }
})

describe("a turn whose end may be lost", () => {
  it.scopedLive(
    "a gap over the turn's end (events the gateway forgot during a drop) fails turn() instead of hanging",
    () =>
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0, agentStepMs: 20 })
        // The second connection waits for the gate: the turn ends on the gateway while the client is away.
        const gate = yield* Deferred.make<void>()
        let opened = 0
        const transport: Transport.Transport["Type"] = {
          open: () =>
            ++opened === 1
              ? inMemoryConnection(gateway)
              : Effect.zipRight(Deferred.await(gate), inMemoryConnection(gateway))
        }
        const c = yield* connectWith(transport, { reconnectSchedule: Schedule.spaced("5 millis") })
        const session = yield* c.createSession("echo")
        const firstText = yield* Deferred.make<void>()
        const turn = yield* c.turn(session.id, "hello world and a few more words").pipe(
          Stream.tap((item) => (item.type === "text_delta" ? Deferred.succeed(firstText, undefined) : Effect.void)),
          Stream.runDrain,
          Effect.flip,
          Effect.fork
        )
        yield* Deferred.await(firstText)
        const [control] = yield* gateway.connections
        yield* control!.drop()
        yield* eventually(
          Effect.map(gateway.sessionLog(session.id), (log) => log.some((e) => e.type === "turn_complete")),
          "the turn ended on the gateway"
        )
        yield* gateway.forgetEvents(session.id)
        yield* Deferred.succeed(gate, undefined)
        const error = yield* Fiber.join(turn).pipe(Effect.timeout("5 seconds"))
        assert.strictEqual(error.reason, "ConnectionLost")
        assert.include(error.message, "were lost while the turn ran")
      })
  )

  it.scopedLive("a join that fails again leaves a session already followed followed: its stream goes on", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      const c = yield* client({ requestTimeout: "300 millis" })
      const other = yield* client()
      const session = yield* c.createSession("echo")
      yield* c.joinSession(session.id)
      const items = yield* c.subscribeSession(session.id)
      yield* gateway.faults.stall("state_snapshot")
      const again = yield* Effect.flip(c.joinSession(session.id))
      assert.strictEqual(again.reason, "RequestTimeout")
      yield* gateway.faults.clear
      yield* other.runTurn(session.id, "still followed?")
      const seen = yield* items.pipe(
        Stream.takeUntil((item) => item.type === "turn_complete"),
        Stream.runCollect,
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(Chunk.unsafeLast(seen).type, "turn_complete")
    })
  )
})

describe("closing the client mid-turn", () => {
  it.scopedLive("turn() fails with Closed instead of ending as if the turn were over", () =>
    Effect.gen(function* () {
      const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0, agentStepMs: 50 })
      const clientScope = yield* Scope.make()
      const c = yield* connectWith({ open: () => inMemoryConnection(gateway) }).pipe(Scope.extend(clientScope))
      const session = yield* c.createSession("coding-agent")
      const firstText = yield* Deferred.make<void>()
      const turn = yield* c.turn(session.id, "go").pipe(
        Stream.tap((item) => (item.type === "text_delta" ? Deferred.succeed(firstText, undefined) : Effect.void)),
        Stream.runCount,
        Effect.either,
        Effect.fork
      )
      yield* Deferred.await(firstText)
      yield* Scope.close(clientScope, Exit.void)
      const result = yield* Fiber.join(turn).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Closed", JSON.stringify(result))
    })
  )
})

describe("a session the gateway no longer has after a reconnect", () => {
  it.scopedLive(
    "its streams and its SessionState fail with the re-join's error (SESSION_NOT_FOUND); the client stays connected",
    () =>
      Effect.gen(function* () {
        // The gateway restarts without its sessions: the first connection goes to one, the next to another.
        const before = yield* Gateway.make({ heartbeatIntervalMs: 0 })
        const after = yield* Gateway.make({ heartbeatIntervalMs: 0 })
        let opened = 0
        const transport: Transport.Transport["Type"] = {
          open: () => inMemoryConnection(++opened === 1 ? before : after)
        }
        const c = yield* connectWith(transport, { reconnectSchedule: Schedule.spaced("5 millis") })
        const session = yield* c.createSession("echo")
        const items = yield* c.subscribeSession(session.id)
        const tracked = yield* c.sessionState(session.id)
        const [control] = yield* before.connections
        yield* control!.drop()
        const ends = yield* Effect.all(
          [Stream.runDrain(items), Stream.runDrain(tracked.changes)].map((stream) =>
            Effect.flip(stream).pipe(Effect.timeout("5 seconds"))
          ),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(
          ends.map((error) => [error.reason, error.code]),
          [
            ["ServerError", "SESSION_NOT_FOUND"],
            ["ServerError", "SESSION_NOT_FOUND"]
          ]
        )
        assert.strictEqual((yield* c.state.get)._tag, "Connected")
        assert.isAtLeast((yield* c.ping).latencyMs, 0)
      })
  )
})

describe("the sequencer holds many events without failing", () => {
  it("settling 150,000 held out-of-order events gives one gap and then every event in order", () => {
    const sequencer = Sequencer.make("s", 0, 200_000, () => {})
    const out: Array<number> = []
    const emit: Sequencer.Emit = (item) => {
      out.push(item.type === "gap" ? -item.toSeq : item.type === "reset" ? Number.NaN : item.seq)
    }
    for (let seq = 150_001; seq >= 2 + 1; seq--) {
      sequencer.accept({ type: "heartbeat" as never, sessionId: "s", seq, ts: 0 } as never, 1, emit)
    }
    sequencer.settle(emit)
    assert.strictEqual(out[0], -2)
    assert.strictEqual(out.length, 150_000)
    assert.strictEqual(out[out.length - 1], 150_001)
  })
})

describe("the sequencer tells a restarted log from a replayed one by time", () => {
  type Input =
    | readonly [seq: number, ts: number]
    | { readonly gap: readonly [fromSeq: number, toSeq: number] }
    | { readonly unknown: number; readonly ts: unknown }
  const run = (after: ReadonlyArray<Input>, sessionId = "s") => {
    const reports: Array<string> = []
    const sequencer = Sequencer.make(sessionId, undefined, 16, (reason, message) =>
      reports.push(`${reason}: ${message}`)
    )
    const out: Array<string> = []
    const emit: Sequencer.Emit = (item) =>
      out.push(
        item.type === "reset"
          ? `reset ${item.previousSeq}->${item.seq}`
          : item.type === "gap"
            ? `gap ${item.fromSeq}-${item.toSeq}`
            : `${item.type} ${item.seq}`
      )
    const accept = (seq: number, ts: number) =>
      sequencer.accept({ type: "text_delta", sessionId, turnId: "t", text: "x", seq, ts }, 10, emit)
    // 100 events, one a millisecond: the sequencer remembers the last 16.
    for (let seq = 1; seq <= 100; seq++) accept(seq, 1_000 + seq)
    out.length = 0
    const restarts: Array<boolean> = []
    for (const input of after) {
      if ("gap" in input) sequencer.gap({ type: "gap", sessionId, fromSeq: input.gap[0], toSeq: input.gap[1] }, emit)
      else if ("unknown" in input) {
        const payload = { type: "future_event", sessionId, seq: input.unknown, ts: input.ts }
        restarts.push(
          sequencer.accept(
            { type: "unknown", eventType: "future_event", payload, sessionId, seq: input.unknown },
            10,
            emit
          )
        )
      } else restarts.push(accept(input[0], input[1]))
    }
    return { out, reports, restarts }
  }

  it("an event at a seq older than any remembered, but later than the last delivered, resets to 0 and asks for the log again", () => {
    const { out, reports, restarts } = run([
      [1, 5_000],
      [2, 5_001],
      [3, 5_002]
    ])
    assert.deepStrictEqual(out, ["reset 100->0", "text_delta 1", "text_delta 2", "text_delta 3"])
    assert.deepStrictEqual(restarts, [true, false, false])
    assert.deepStrictEqual(reports, [
      "SessionReset: session s: the gateway's log went back from seq 100 to 0 (seq 1 came again at 5000, after the last delivered event (at 1100)); reset"
    ])
  })

  it("another event at a recently delivered seq (even with an earlier ts) resets to 0 and asks for the log again", () => {
    const { out, restarts, reports } = run([
      [90, 1_050],
      ...Array.from({ length: 89 }, (_, i) => [i + 1, 900 + i] as const)
    ])
    assert.deepStrictEqual(restarts[0], true)
    assert.deepStrictEqual(out, ["reset 100->0", ...Array.from({ length: 90 }, (_, i) => `text_delta ${i + 1}`)])
    assert.match(reports[0]!, /^SessionReset: .*from seq 100 to 0 \(seq 90 came again as another event\)/)
  })

  it("the new log's first events out of order: none is lost (the later one waits for the earlier)", () => {
    const { out, restarts } = run([
      [2, 5_001],
      [1, 5_000],
      [3, 5_002]
    ])
    assert.deepStrictEqual(out, ["reset 100->0", "text_delta 1", "text_delta 2", "text_delta 3"])
    assert.deepStrictEqual(restarts, [true, false, false])
  })

  it("a new log noticed from a later event: it waits for what the log holds before it (fetched again)", () => {
    const { out, restarts } = run([[9, 5_008], ...Array.from({ length: 8 }, (_, i) => [i + 1, 5_000 + i] as const)])
    assert.deepStrictEqual(restarts[0], true)
    assert.deepStrictEqual(out, ["reset 100->0", ...Array.from({ length: 9 }, (_, i) => `text_delta ${i + 1}`)])
  })

  it("after a gap moved the position past the last delivered event, a restart is still noticed", () => {
    const { out, restarts } = run([{ gap: [101, 150] }, [1, 5_000]])
    assert.deepStrictEqual(out, ["gap 101-150", "reset 150->0", "text_delta 1"])
    assert.deepStrictEqual(restarts, [true])
  })

  it("old events replayed again (their times not past the last delivered) are dropped and reported, not a reset", () => {
    // A session id that holds "reset" is still reported as stale (the reason is the sequencer's, not a guess from the text).
    const { out, reports, restarts } = run(
      [
        [1, 1_001],
        [50, 1_050],
        [84, 1_100]
      ],
      "preset-42"
    )
    assert.deepStrictEqual(out, [])
    assert.deepStrictEqual(restarts, [false, false, false])
    assert.strictEqual(reports.length, 3)
    for (const report of reports) assert.match(report, /^StaleEvent: .*older than any remembered/)
  })

  it("a copy of an old event stamped anew looks like a restart, but the re-read of the log delivers nothing twice", () => {
    // The gateway re-stamped one old event; its log did not restart. The client resets to 0 and
    // reads the log again (the replay: the old events with their own times), then the live ones.
    const replay = Array.from({ length: 100 }, (_, i) => [i + 1, 1_001 + i] as const)
    const live = Array.from({ length: 20 }, (_, i) => [101 + i, 1_101 + i] as const)
    const { out, restarts, reports } = run([[10, 2_000], ...replay, ...live])
    assert.strictEqual(restarts[0], true)
    assert.strictEqual(out[0], "reset 100->0")
    const delivered = out.filter((item) => item.startsWith("text_delta")).map((item) => Number(item.split(" ")[1]))
    // Every seq at most once: the re-stamped copy, then the live events (gaps in between, loudly).
    assert.deepStrictEqual(delivered, [10, ...live.map(([seq]) => seq)])
    assert.deepStrictEqual(
      out.filter((item) => item.startsWith("gap")),
      ["gap 1-9", "gap 11-100"]
    )
    assert.strictEqual(reports.filter((report) => report.startsWith("StaleEvent")).length, 100)
  })

  it("an unknown event's ts is not trusted: neither a small nor an infinite one makes a stale copy look new", () => {
    for (const ts of [5, Number.POSITIVE_INFINITY, "later"]) {
      const { out, reports, restarts } = run([{ unknown: 101, ts }, [10, 1_010], { unknown: 1, ts: 1e12 }])
      assert.deepStrictEqual(out, ["unknown 101"], String(ts))
      assert.deepStrictEqual(restarts, [false, false, false])
      assert.strictEqual(reports.length, 2)
      // Nor does it hide a restart: the newest known event's time is the one compared.
      const restart = run([{ unknown: 101, ts }, [1, 5_000]])
      assert.deepStrictEqual(restart.out, ["unknown 101", "reset 101->0", "text_delta 1"], String(ts))
    }
  })
})

describe("one server value cannot park the client", () => {
  it.scoped("server_shutdown with reconnectAfterMs 2^53-1 waits at most 5 minutes, then reconnects", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
      const c = yield* client({ silenceTimeout: 0 })
      const [control] = yield* gateway.connections
      yield* control!.sendShutdown("maintenance", Number.MAX_SAFE_INTEGER)
      for (let i = 0; i < 100 && (yield* c.state.get)._tag !== "Reconnecting"; i++) yield* Effect.yieldNow()
      const state = yield* c.state.get
      assert.deepStrictEqual(state._tag === "Reconnecting" && state.delayMs, 5 * 60 * 1000)
      yield* TestClock.adjust("5 minutes")
      for (let i = 0; i < 200 && (yield* c.state.get)._tag !== "Connected"; i++) yield* Effect.yieldNow()
      assert.strictEqual((yield* c.state.get)._tag, "Connected")
    })
  )
})

describe("liveness counts unanswered pings", () => {
  it.scoped("with heartbeats flowing and pongs withheld, 2 missed pongs drop and re-make the connection", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 5_000 })
      const c = yield* client({
        pingInterval: "10 seconds",
        silenceTimeout: "75 seconds",
        reconnectSchedule: Schedule.spaced("1 second")
      })
      const [first] = yield* gateway.connections
      yield* gateway.faults.stopPongs
      // Pings at 10 s (unanswered), 20 s (one missed), 30 s (two missed: drop).
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual((yield* gateway.connections)[0]?.id, first!.id)
      yield* TestClock.adjust("1 second")
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("1 second")
      for (let i = 0; i < 200 && (yield* c.state.get)._tag !== "Connected"; i++) yield* Effect.yieldNow()
      const [second] = yield* gateway.connections
      assert.isDefined(second)
      assert.notStrictEqual(second!.id, first!.id)
    })
  )
})

for (const harness of [inMemory, seedProfile(inMemory)]) {
  describe(`a log that goes backwards (${harness.name})`, () => {
    it.scopedLive(
      "after a failover restarts the session's log, the session stream says so (reset) and delivers the new log",
      () =>
        Effect.gen(function* () {
          const { client, gateway } = yield* harness.setup({ heartbeatIntervalMs: 0, agentStepMs: 1 })
          const c = yield* client({ reconnectSchedule: Schedule.spaced("20 millis") })
          const session = yield* c.createSession("echo")
          yield* c.joinSession(session.id)
          const items = yield* c.subscribeSession(session.id)
          const reports = yield* c.diagnostics.pipe(
            Stream.filter((d) => d.reason === "SessionReset"),
            Stream.take(1),
            Stream.runCollect,
            Effect.fork
          )
          const collected = yield* items.pipe(
            Stream.takeUntil((item) => item.type === "turn_complete" && item.finalText === "Echo: after the failover"),
            Stream.runCollect,
            Effect.timeout("10 seconds"),
            Effect.fork
          )
          yield* c.turn(session.id, "before").pipe(Stream.runDrain)
          const before = (yield* gateway.sessionLog(session.id)).length
          // The gateway fails over: the connection drops and the session's log starts again at seq 1.
          const [control] = yield* gateway.connections
          yield* control!.drop()
          yield* gateway.restartSessionLog(session.id)
          yield* eventually(
            Effect.map(c.state.get, (s) => s._tag === "Connected"),
            "reconnected"
          )
          yield* Effect.sleep("50 millis")
          yield* c.turn(session.id, "after the failover").pipe(Stream.runDrain)
          const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected))
          const reset = seen.find((item) => item.type === "reset")
          assert.isDefined(reset, "a reset item")
          assert.strictEqual(reset!.type === "reset" && reset!.previousSeq, before)
          const after = seen
            .slice(seen.indexOf(reset!) + 1)
            .map((item) => (item.type === "gap" || item.type === "reset" ? -1 : item.seq))
          const log = (yield* gateway.sessionLog(session.id)).map((e) => e.seq)
          assert.deepStrictEqual(after, log.slice(0, after.length))
          assert.strictEqual(after[0], 1)
          assert.strictEqual(Chunk.size(yield* Fiber.join(reports)), 1)
        })
    )
  })
}

/**
 * A session on the seed-profile gateway, its client with the given `reorderWindow`, whose log is
 * run past `oldLog` events. `failover` drops the client, restarts the log, runs `whileAway` with
 * another client (its turn, say) and returns once the first client is connected again.
 */
const seedSessionWithOldLog = (reorderWindow: number, oldLog: number) =>
  Effect.gen(function* () {
    const { client, gateway } = yield* seedProfile(inMemory).setup({ heartbeatIntervalMs: 0, agentStepMs: 1 })
    const c = yield* client({ reconnectSchedule: Schedule.spaced("300 millis"), reorderWindow })
    const session = yield* c.createSession("echo")
    yield* c.joinSession(session.id)
    for (let i = 0; (yield* gateway.sessionLog(session.id)).length <= oldLog; i++) {
      yield* c.turn(session.id, `before ${i}`).pipe(Stream.runDrain)
    }
    const failover = (whileAway?: (other: GatewayClient.GatewayClient) => Effect.Effect<void, unknown>) =>
      Effect.gen(function* () {
        const [control] = yield* gateway.connections
        yield* control!.drop()
        yield* gateway.restartSessionLog(session.id)
        // Before the first client is back: the new log's first events are not sent to it live.
        if (whileAway !== undefined) yield* whileAway(yield* client({}))
        yield* eventually(
          Effect.map(c.state.get, (state) => state._tag === "Connected"),
          "reconnected"
        )
        yield* Effect.sleep("50 millis")
      })
    return { c, gateway, session, failover }
  })

describe("a log restarted while the client was away (seed profile: no lastSeq)", () => {
  for (const [othersTurn, long] of [
    [false, true],
    [true, true],
    [true, false]
  ] as const) {
    it.scopedLive(
      `the first event of the new log ${long ? "(the old log longer than remembered), later than the last delivered," : "(at a seq delivered recently, as another event)"} resets the session and the whole new log follows${othersTurn ? " (another client's turn while this one was away included)" : ""}`,
      () =>
        Effect.gen(function* () {
          // With `long`, the client remembers the last 16 delivered events and the old log holds more.
          const { c, failover, gateway, session } = yield* seedSessionWithOldLog(long ? 16 : 64, long ? 40 : 10)
          const items = yield* c.subscribeSession(session.id)
          const collected = yield* items.pipe(
            Stream.takeUntil((item) => item.type === "turn_complete" && item.finalText === "Echo: after the failover"),
            Stream.runCollect,
            Effect.timeout("10 seconds"),
            Effect.fork
          )
          const before = (yield* gateway.sessionLog(session.id)).length
          yield* failover(
            othersTurn ? (other) => other.turn(session.id, "while away").pipe(Stream.runDrain) : undefined
          )
          yield* c.turn(session.id, "after the failover").pipe(Stream.runDrain)
          const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected))
          const reset = seen.find((item) => item.type === "reset")
          assert.deepStrictEqual(reset, { type: "reset", sessionId: session.id, previousSeq: before, seq: 0 })
          const after = seen
            .slice(seen.indexOf(reset!) + 1)
            .map((item) => (item.type === "gap" || item.type === "reset" ? -1 : item.seq))
          // Every event of the new log up to the turn's end, from seq 1: nothing dropped as stale,
          // nothing skipped (the other client's turn, sent while this one was away, included).
          const log = (yield* gateway.sessionLog(session.id)).map((e) => e.seq)
          assert.deepStrictEqual(after, log.slice(0, after.length))
          assert.strictEqual(after[0], 1)
          if (othersTurn) assert.isAbove(after.length, 8)
        })
    )
  }
})

describe("a turn started while a noticed restart is being read again (seed profile: no clientTurnId echo)", () => {
  it.scopedLive("is confirmed by its own turn_started, not by another client's in the replay", () =>
    Effect.gen(function* () {
      const { c: a, failover, gateway, session } = yield* seedSessionWithOldLog(16, 46)
      // While A is away, B runs a turn: the new log's first events, which A has not seen.
      let b: GatewayClient.GatewayClient | undefined
      yield* failover((other) => {
        b = other
        return other.turn(session.id, "B while A away").pipe(Stream.runDrain)
      })
      // A's application starts its turn as soon as it sees the session reset.
      const items = yield* a.subscribeSession(session.id)
      const mine = yield* items.pipe(
        Stream.filter((item) => item.type === "reset"),
        Stream.take(1),
        Stream.runDrain,
        Effect.zipRight(a.turn(session.id, "mine").pipe(Stream.runCollect)),
        Effect.timeout("5 seconds"),
        Effect.fork
      )
      yield* Effect.sleep("20 millis")
      // A's connection is slow with turn_started frames: B's, in the replay, comes after A's run_turn went out.
      const connections = yield* gateway.connections
      yield* connections.at(-1)!.faults.delay("turn_started", 100)
      // An event of the new log at a seq A passed long ago, later than anything A saw: A notices the restart.
      yield* b!.stopTurn(session.id)
      const turn = Chunk.toReadonlyArray(yield* Fiber.join(mine))
      const end = turn[turn.length - 1]
      assert.deepStrictEqual(end?.type === "turn_complete" && end.finalText, "Echo: mine")
      assert.isTrue(turn.every((item) => item.type === "gap" || item.type === "reset" || item.seq > 7))
    })
  )
})

describe("a re-join's fence holds nothing up for good", () => {
  it.effect("a fence never released lets its waiter go after its timeout, and is dropped", () =>
    Effect.gen(function* () {
      const sessions = Sessions.make({ publishAll: () => {}, reorderWindow: 16, report: () => {} })
      sessions.fence("s", Duration.seconds(10))
      const waiting = yield* Effect.fork(sessions.afterRejoin("s"))
      yield* TestClock.adjust("9 seconds")
      assert.isNull(yield* Fiber.poll(waiting).pipe(Effect.map(Option.getOrNull)))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiting)
      // Dropped: the next request does not wait.
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(Effect.timeout(sessions.afterRejoin("s"), "1 millis"))))
      const release = sessions.fence("s", Duration.seconds(10))
      const released = yield* Effect.fork(sessions.afterRejoin("s"))
      release()
      yield* Fiber.join(released)
    })
  )
})

describe("a turn whose turn_started was dropped (seed profile, a gateway that reorders a fresh join's first events)", () => {
  it.scopedLive("still ends with its turn_complete: turn() takes the turn from its first event seen", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* seedProfile(inMemory).setup({ heartbeatIntervalMs: 0, agentStepMs: 1 })
      const a = yield* client({})
      const session = yield* a.createSession("echo")
      yield* a.joinSession(session.id)
      const stale = yield* a.diagnostics.pipe(
        Stream.filter((d) => d.reason === "StaleEvent"),
        Stream.take(1),
        Stream.runCollect,
        Effect.fork
      )
      // turn_started (seq 1) comes after seq 2: with no position yet, 2 sets it and 1 is dropped.
      yield* gateway.faults.reorderSessionEvents(1)
      const items = Chunk.toReadonlyArray(
        yield* a.turn(session.id, "hello").pipe(Stream.runCollect, Effect.timeout("5 seconds"))
      )
      const end = items[items.length - 1]
      assert.deepStrictEqual(end?.type === "turn_complete" && end.finalText, "Echo: hello")
      assert.match(Chunk.unsafeHead(yield* Fiber.join(stale)).message, /dropped a turn_started with seq 1/)
    })
  )
})

describe("events dropped as stale are reported", () => {
  it.scopedLive(
    "after a gap up to seq 2^53-1 what follows is reported (StaleEvent), and the next join resets the session",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0, agentStepMs: 1 })
        const c = yield* client({ reconnectSchedule: Schedule.spaced("20 millis") })
        const session = yield* c.createSession("echo")
        yield* c.joinSession(session.id)
        const items = yield* c.subscribeSession(session.id)
        const stale = yield* c.diagnostics.pipe(
          Stream.filter((d) => d.reason === "StaleEvent"),
          Stream.take(1),
          Stream.runCollect,
          Effect.fork
        )
        const collected = yield* items.pipe(
          Stream.takeUntil((item) => item.type === "turn_complete"),
          Stream.runCollect,
          Effect.timeout("10 seconds"),
          Effect.fork
        )
        const [control] = yield* gateway.connections
        yield* control!.sendRaw(
          JSON.stringify({ type: "gap", sessionId: session.id, fromSeq: 1, toSeq: Number.MAX_SAFE_INTEGER })
        )
        yield* Effect.sleep("20 millis")
        yield* c.runTurn(session.id, "hidden")
        assert.strictEqual(Chunk.unsafeHead(yield* Fiber.join(stale)).reason, "StaleEvent")
        yield* Effect.sleep("50 millis")
        // The next join's snapshot says where the log really stands: the session is reset and re-read.
        yield* control!.drop()
        const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected))
        assert.deepStrictEqual(
          seen.slice(0, 2).map((item) => item.type),
          ["gap", "reset"]
        )
        const log = (yield* gateway.sessionLog(session.id)).map((e) => e.seq)
        const after = seen.slice(2).map((item) => (item.type === "gap" || item.type === "reset" ? -1 : item.seq))
        assert.deepStrictEqual(after, log.slice(0, after.length))
        assert.strictEqual(seen[seen.length - 1]!.type, "turn_complete")
      })
  )
})

describe("errors meet their own request", () => {
  for (const [mode, harness] of [
    ["in requestId mode", inMemory],
    ["without requestId (seed profile)", seedProfile(inMemory)]
  ] as const) {
    it.scopedLive(`${mode} a refused answer_question fails at once with ServerError, not RequestTimeout`, () =>
      Effect.gen(function* () {
        const { client } = yield* harness.setup({ heartbeatIntervalMs: 0 })
        const c = yield* client({ requestTimeout: "5 seconds" })
        const session = yield* c.createSession("echo")
        const error = yield* Effect.flip(c.answerQuestion(session.id, "no-such-question", { a: "b" })).pipe(
          Effect.timeout("1 second")
        )
        assert.deepStrictEqual([error.reason, error.code], ["ServerError", "QUESTION_NOT_FOUND"])
      })
    )
  }

  it.scopedLive(
    "an error the gateway could not attribute (FRAME_TOO_LARGE) fails no unrelated request; it is a diagnostic",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0, maxFrameBytes: 4096 })
        const c = yield* client({ requestTimeout: "1 second" })
        const session = yield* c.createSession("echo")
        const reports = yield* c.diagnostics.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        // list_sessions waits (its reply never comes) while the oversized run_turn is refused.
        yield* gateway.faults.stall("session_list")
        const list = yield* Effect.fork(Effect.flip(c.listSessions()))
        yield* Effect.sleep("20 millis")
        const turn = yield* Effect.flip(c.runTurn(session.id, "x".repeat(10_000)))
        const listed = yield* Fiber.join(list)
        assert.deepStrictEqual([listed.reason, turn.reason], ["RequestTimeout", "RequestTimeout"])
        const report = Chunk.unsafeHead(yield* Fiber.join(reports))
        assert.strictEqual(report.reason, "UnattributedError")
        assert.include(report.message, "FRAME_TOO_LARGE")
      })
  )

  it.scopedLive("the same error with only its own request waiting fails that request at once", () =>
    Effect.gen(function* () {
      const { client } = yield* inMemory.setup({ heartbeatIntervalMs: 0, maxFrameBytes: 4096 })
      const c = yield* client({ requestTimeout: "5 seconds" })
      const session = yield* c.createSession("echo")
      const turn = yield* Effect.flip(c.runTurn(session.id, "x".repeat(10_000))).pipe(Effect.timeout("1 second"))
      assert.deepStrictEqual([turn.reason, turn.code], ["ServerError", "FRAME_TOO_LARGE"])
    })
  )
})

describe("subscriber buffers are bounded in bytes", () => {
  it.scopedLive(
    "a stalled subscriber fails with SlowConsumer once its buffer holds eventBufferBytes; another gets everything",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
        const c = yield* client({ eventBufferBytes: 512 * 1024 })
        const session = yield* c.createSession("echo")
        yield* c.joinSession(session.id)
        const big = "x".repeat(32 * 1024)
        // Takes what has arrived, then stops reading until the gate opens.
        const gate = yield* Deferred.make<void>()
        const taken: Array<number> = []
        const stalled = yield* (yield* c.subscribeSession(session.id)).pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.zipRight(
              Effect.sync(() => taken.push(chunk.length)),
              Deferred.await(gate)
            )
          ),
          Effect.either,
          Effect.fork
        )
        const reader = yield* (yield* c.subscribeSession(session.id)).pipe(
          Stream.filter((item) => item.type === "text_delta"),
          Stream.take(100),
          Stream.runCount,
          Effect.fork
        )
        yield* gateway.scriptNextTurn(
          session.id,
          Array.from({ length: 100 }, () => ({ type: "text_delta" as const, text: big }))
        )
        yield* c.runTurn(session.id, "flood")
        assert.strictEqual(yield* Fiber.join(reader), 100)
        yield* Deferred.succeed(gate, undefined)
        const outcome = yield* Fiber.join(stalled).pipe(Effect.timeout("5 seconds"))
        assert.strictEqual(Either.isLeft(outcome) && outcome.left.reason, "SlowConsumer")
        assert.include(Either.isLeft(outcome) ? outcome.left.message : "", "524288 bytes")
        // It held at most 512 KiB after what it had taken: 16 events of 32 KiB frames, not 100.
        assert.isAtMost(taken[1] ?? 0, 16)
      })
  )
})

describe("bad frames do not flood the log", () => {
  it.scopedLive("1,000 malformed frames: every one on diagnostics, at most 11 log lines", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      yield* Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
        const c = yield* client()
        const reports = yield* c.diagnostics.pipe(Stream.take(1000), Stream.runCount, Effect.fork)
        yield* Effect.sleep("10 millis")
        const [control] = yield* gateway.connections
        for (let i = 0; i < 1000; i++) yield* control!.sendRaw(`{not json ${i}`)
        assert.strictEqual(yield* Fiber.join(reports), 1000)
        assert.isAtLeast((yield* c.ping).latencyMs, 0)
      }).pipe(
        Effect.scoped,
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.Warning)
      )
      const discarded = lines.filter((line) => line.includes("discarded a frame"))
      assert.isAtMost(discarded.length, 10)
      assert.isAtLeast(discarded.length, 1)
    })
  )

  it.effect("a session reset is logged as a reset, a stale event as a discarded frame", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      const warnings = Warnings.make(Broadcast.make(), yield* Effect.clock)
      warnings.warn({ reason: "SessionReset", message: "session s: the gateway's log went back", excerpt: "" })
      warnings.warn({ reason: "StaleEvent", message: "session s: dropped a text_delta", excerpt: "" })
      yield* warnings.drain()!.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.deepStrictEqual(lines, [
        "a session's log went back; the session was reset",
        "discarded a frame from the gateway"
      ])
    })
  )
})

/** A TCP server that accepts connections and never answers (a tarpit), or forwards the first `pass` to `target`. */
const tarpit = (options: { readonly pass?: number; readonly target?: number } = {}) =>
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; port: number; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      let passed = 0
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        if (options.target !== undefined && passed < (options.pass ?? 0)) {
          passed += 1
          const upstream = net.connect(options.target, "127.0.0.1")
          upstream.on("error", () => socket.destroy())
          sockets.add(upstream)
          socket.pipe(upstream).pipe(socket)
        }
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ server, port: typeof address === "object" && address ? address.port : 0, sockets }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

for (const harness of [overWs, overStandardWebSocket]) {
  describe(`connecting ends within its timeout against a tarpit (${harness.name})`, () => {
    const transport = harness === overWs ? NodeTransport.layer : standardTransport

    it.scopedLive("connect: ConnectionFailed at connectTimeout; an outer Effect.timeout also ends it", () =>
      Effect.gen(function* () {
        const { port } = yield* tarpit()
        const started = Date.now()
        const error = yield* connectTo(`ws://127.0.0.1:${port}`, { connectTimeout: "300 millis" }).pipe(
          Effect.provide(transport),
          Effect.flip
        )
        assert.strictEqual(error.reason, "ConnectionFailed")
        assert.isBelow(Date.now() - started, 3_000)
        const outer = yield* connectTo(`ws://127.0.0.1:${port}`, { connectTimeout: "1 hour" }).pipe(
          Effect.provide(transport),
          Effect.timeout("300 millis"),
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(outer))
      })
    )

    it.scopedLive(
      "a connect given up mid-handshake (a gateway that upgrades and then says nothing) closes its socket",
      () =>
        Effect.gen(function* () {
          const open = new Set<WebSocket>()
          const silent = yield* Effect.acquireRelease(
            Effect.async<WebSocketServer>((resume) => {
              const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () =>
                resume(Effect.succeed(server))
              )
              server.on("connection", (socket: WebSocket) => {
                open.add(socket)
                socket.on("close", () => open.delete(socket))
              })
            }),
            (server) => Effect.async<void>((resume) => server.close(() => resume(Effect.void)))
          )
          const address = silent.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          const attempt = yield* connectTo(`ws://127.0.0.1:${port}`, { connectTimeout: "10 seconds" }).pipe(
            Effect.provide(transport),
            Effect.scoped,
            Effect.timeout("300 millis"),
            Effect.exit
          )
          assert.isTrue(Exit.isFailure(attempt))
          for (let i = 0; i < 100 && open.size > 0; i++) yield* Effect.sleep("20 millis")
          assert.strictEqual(open.size, 0)
        })
    )

    it.scopedLive(
      "reconnect: attempts against a tarpit end at connectTimeout; closing the client's scope ends at once",
      () =>
        Effect.gen(function* () {
          const { gateway, server } = yield* harnessServer
          const { port } = yield* tarpit({ pass: 1, target: server.port })
          const scope = yield* Scope.make()
          const c = yield* connectTo(`ws://127.0.0.1:${port}`, {
            connectTimeout: "200 millis",
            reconnectSchedule: Schedule.spaced("10 millis")
          }).pipe(Effect.provide(transport), Scope.extend(scope))
          const states = yield* c.state.changes.pipe(
            Stream.filter((s) => s._tag === "Connecting" && s.attempt >= 3),
            Stream.take(1),
            Stream.runDrain,
            Effect.timeout("5 seconds"),
            Effect.fork
          )
          const [control] = yield* gateway.connections
          yield* control!.drop()
          yield* Fiber.join(states)
          const started = Date.now()
          yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("2 seconds"))
          assert.isBelow(Date.now() - started, 2_000)
          assert.strictEqual((yield* c.state.get)._tag, "Closed")
        })
    )
  })
}

describe("a text frame that is not UTF-8 (RFC 6455, 8.1)", () => {
  for (const harness of [overWs, overStandardWebSocket]) {
    const transport = harness === overWs ? NodeTransport.layer : standardTransport
    it.scopedLive(
      `${harness.name}: dropped with what follows it, the connection closed with 1007 and made again; U+FFFD sent as text arrives intact`,
      () =>
        Effect.gen(function* () {
          const closes: Array<number> = []
          let connections = 0
          const delta = (seq: number, text: string) =>
            JSON.stringify({ type: "text_delta", sessionId: "s-x", turnId: "t", seq, ts: seq, text })
          const server = yield* Effect.acquireRelease(
            Effect.async<WebSocketServer>((resume) => {
              const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () =>
                resume(Effect.succeed(server))
              )
            }),
            (server) =>
              Effect.async<void>((resume) => {
                for (const socket of server.clients) socket.terminate()
                server.close(() => resume(Effect.void))
              })
          )
          server.on("connection", (socket: WebSocket) => {
            const first = ++connections === 1
            socket.on("close", (code) => closes.push(code))
            socket.send(
              JSON.stringify({ type: "welcome", serverVersion: "t", protocolVersion: 1, requiresAuth: false })
            )
            socket.send(
              JSON.stringify({ type: "authenticated", identity: { userId: "u", email: "u@t", tenantId: "t" } })
            )
            socket.on("message", (data) => {
              const message = JSON.parse(String(data))
              if (message.type !== "ping") return
              socket.send(JSON.stringify({ type: "pong", ts: message.ts }))
              if (!first) return socket.send(delta(4, "on the next connection"))
              socket.send(delta(1, "a\uFFFDb"))
              // `{"text":"a<0xFF>b"}`: the JSON is fine, its bytes are not UTF-8.
              const [head, tail] = delta(2, "a\u0000b").split("\\u0000")
              socket.send(Buffer.concat([Buffer.from(head!), Buffer.from([0xff]), Buffer.from(tail!)]), {
                binary: false
              })
              socket.send(delta(3, "after it, on the same connection"))
            })
          })
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          const c = yield* connectTo(`ws://127.0.0.1:${port}`, {
            reconnectSchedule: Schedule.spaced("10 millis")
          }).pipe(Effect.provide(transport))
          const texts = yield* c.eventsOf("text_delta").pipe(
            Stream.map((e) => e.text),
            Stream.take(2),
            Stream.runCollect,
            Effect.fork
          )
          yield* Effect.sleep("20 millis")
          yield* c.ping
          yield* eventually(
            Effect.sync(() => connections === 2),
            "the client connected again"
          )
          yield* Effect.retry(c.ping, Schedule.spaced("20 millis").pipe(Schedule.upTo("4 seconds")))
          const received = yield* Fiber.join(texts).pipe(Effect.timeout("4 seconds"))
          assert.deepStrictEqual(Chunk.toReadonlyArray(received), ["a\uFFFDb", "on the next connection"])
          assert.strictEqual(closes[0], 1007)
        })
    )
  }
})

// ----- helpers ----------------------------------------------------------------------------------

const inMemoryConnection = (gateway: Gateway.Gateway) => InMemory.connect(gateway)

const connectWith = (
  transport: Transport.Transport["Type"],
  options: Partial<GatewayClient.GatewayClientOptions> = {}
) =>
  Client.make({ url: "memory://hostile", pingInterval: 0, ...options }).pipe(
    Effect.provideService(Transport.Transport, transport)
  )

const connectTo = (url: string, options: Partial<GatewayClient.GatewayClientOptions> = {}) =>
  Client.make({ url, pingInterval: 0, ...options })

const standardTransport = WebSocketTransport.layer.pipe(
  Layer.provide(
    Layer.succeed(Socket.WebSocketConstructor, (url: string) => new WebSocket(url) as unknown as globalThis.WebSocket)
  )
)

const harnessServer = Effect.gen(function* () {
  const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
  const server = yield* Effect.orDie(WsServer.serve(gateway))
  return { gateway, server }
})

import { GatewayClient } from "@diminuendo/client"
import { Gateway, InMemory } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as FollowerRunner from "../src/FollowerRunner.js"
import * as SessionFeed from "../src/SessionFeed.js"
import * as SessionFollower from "../src/SessionFollower.js"
import * as SessionWatcher from "../src/SessionWatcher.js"
import {
  caughtUp,
  handledRows,
  handledTable,
  logSeqs,
  quiet,
  record,
  runnerFeed,
  runTurn,
  testClient,
  testTimings
} from "./fixtures.js"

const withWatcher = Layer.mergeAll(
  SessionFollower.layer({ handle: record("owner") }),
  SessionWatcher.layer({ interval: "50 millis" })
).pipe(
  Layer.provideMerge(Layer.mergeAll(runnerFeed(), handledTable, testClient)),
  Layer.provideMerge(FollowerRunner.layerTest({ shardingConfig: testTimings })),
  Layer.provideMerge(InMemory.layer()),
  Layer.provide(quiet),
  Layer.orDie
)

/**
 * The gateway's `authenticated` held back: in dev mode the runner's client is connected once the
 * `welcome` says no token is needed, and learns who it is (its tenant) only when the
 * `authenticated` that follows arrives, here after the runner's layers are up.
 */
const identityLater = (ms: number) =>
  Layer.effectDiscard(Effect.flatMap(Gateway.Gateway, (gateway) => gateway.faults.delay("authenticated", ms)))

const withWatcherIdentityLater = Layer.mergeAll(
  SessionFollower.layer({ handle: record("owner") }),
  SessionWatcher.layer({ interval: "50 millis" })
).pipe(
  Layer.provideMerge(Layer.mergeAll(runnerFeed(), handledTable, testClient)),
  Layer.provideMerge(FollowerRunner.layerTest({ shardingConfig: testTimings })),
  Layer.provideMerge(identityLater(300)),
  Layer.provideMerge(InMemory.layer()),
  Layer.provide(quiet),
  Layer.orDie
)

describe("discovery", () => {
  it.live("the tenant's watcher follows sessions created elsewhere, without a Follow from their creator", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const sessions = yield* Effect.all([client.createSession("echo"), client.createSession("echo")])
      yield* Effect.forEach(sessions, (session) => runTurn(session.id, "created and run elsewhere"), {
        discard: true
      })
      yield* Effect.forEach(sessions, (session) => caughtUp(session.id), { discard: true })
      for (const session of sessions) {
        assert.deepStrictEqual(
          (yield* handledRows(session.id)).map((row) => row.seq),
          yield* logSeqs(session.id)
        )
      }
    }).pipe(Effect.provide(withWatcher), Effect.scoped)
  )

  it.live("the watcher starts when the connection's identity arrives after the runner is up (dev mode)", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const session = yield* client.createSession("echo")
      yield* runTurn(session.id, "created and run elsewhere")
      yield* caughtUp(session.id)
      assert.deepStrictEqual(
        (yield* handledRows(session.id)).map((row) => row.seq),
        yield* logSeqs(session.id)
      )
    }).pipe(Effect.provide(withWatcherIdentityLater), Effect.scoped)
  )

  it.scoped("a connection that never says who it is: the watcher layer warns after identityWait, not silently", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const layer = SessionWatcher.layer({ interval: "50 millis" }).pipe(
        Layer.provideMerge(runnerFeed()),
        Layer.provideMerge(FollowerRunner.layerTest({ shardingConfig: testTimings })),
        Layer.provideMerge(
          Layer.effectDiscard(Effect.flatMap(Gateway.Gateway, (gateway) => gateway.faults.stall("authenticated")))
        ),
        Layer.provideMerge(InMemory.layer()),
        Layer.provide(
          Logger.replace(
            Logger.defaultLogger,
            Logger.make(({ message }) => warnings.push(String(message)))
          )
        ),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
        Layer.orDie
      )
      const building = yield* Effect.fork(Layer.build(layer))
      for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(building)); i++) {
        yield* TestClock.adjust("500 millis")
        yield* Effect.yieldNow()
      }
      yield* Fiber.join(building)
      assert.isTrue(
        warnings.some((message) => message.includes("has not said who it is")),
        `warnings: ${JSON.stringify(warnings)}`
      )
    })
  )

  it.live("a Watch for a tenant the runner's connection is not in fails with WrongTenant", () =>
    Effect.gen(function* () {
      const watchers = yield* SessionWatcher.SessionWatcher.client
      const exit = yield* Effect.exit(watchers("elsewhere").Watch({ tenantId: "elsewhere" }))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof SessionWatcher.WatcherError)
      assert.strictEqual(
        Option.isSome(failure) ? (failure.value as SessionWatcher.WatcherError).reason : "",
        "WrongTenant"
      )
    }).pipe(Effect.provide(withWatcher), Effect.scoped)
  )

  it.live("a runner's feed has at most maxConcurrentJoins joins in flight on its connection", () => {
    let inFlight = 0
    let peak = 0
    return Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const sessions = yield* Effect.forEach(Array.from({ length: 12 }), () => client.createSession("echo"))
      const runner = yield* GatewayClient.make({ url: "memory://gateway", pingInterval: 0 })
      const counted: GatewayClient.GatewayClient = {
        ...runner,
        joinSession: (sessionId, afterSeq) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              inFlight += 1
              peak = Math.max(peak, inFlight)
            }),
            () => Effect.zipRight(Effect.sleep("20 millis"), runner.joinSession(sessionId, afterSeq)),
            () => Effect.sync(() => void (inFlight -= 1))
          )
      }
      const feed = yield* SessionFeed.make({ maxConcurrentJoins: 3 }).pipe(
        Effect.provideService(GatewayClient.GatewayClient, counted)
      )
      yield* Effect.forEach(sessions, (session) => feed.open(session.id, 0), {
        concurrency: "unbounded",
        discard: true
      })
      assert.strictEqual(peak, 3)
      assert.strictEqual(inFlight, 0)
    }).pipe(Effect.provide(testClient.pipe(Layer.provideMerge(InMemory.layer()), Layer.orDie)), Effect.scoped)
  })
})

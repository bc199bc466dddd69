/**
 * Shared setup for the follower tests: the testkit gateway in memory, the runner's client on it,
 * the cluster on TestRunner (offsets in an in-memory SQLite database), and a handler that records
 * each event in a `handled` table inside the offset's transaction.
 */
import { GatewayClient } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import { Gateway, InMemory } from "@diminuendo/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as FollowerRunner from "../src/FollowerRunner.js"
import * as SessionFeed from "../src/SessionFeed.js"
import * as SessionFollower from "../src/SessionFollower.js"

export const handledTable = Layer.effectDiscard(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`CREATE TABLE IF NOT EXISTS handled (session_id TEXT NOT NULL, seq INTEGER NOT NULL, owner TEXT NOT NULL)`
  )
)

/** Records the event in `handled`, through the `SqlClient` in context (so inside the offset's transaction). */
export const record =
  (owner: string) =>
  (event: ServerEvent.SessionEvent): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.asVoid(
        sql`INSERT INTO handled (session_id, seq, owner) VALUES (${event.sessionId}, ${event.seq}, ${owner})`
      )
    )

export interface Row {
  readonly seq: number
  readonly owner: string
}

export const handledRows = (sessionId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.orDie(
      sql<Row>`SELECT seq, owner FROM handled WHERE session_id = ${sessionId} ORDER BY seq, owner`.pipe(
        Effect.map((rows) => rows.map((row) => ({ seq: Number(row.seq), owner: row.owner })))
      )
    )
  )

export const logSeqs = (sessionId: string) =>
  Effect.map(Gateway.Gateway, (gateway) => gateway.sessionLog(sessionId)).pipe(
    Effect.flatten,
    Effect.map((log) => log.map((event) => event.seq))
  )

/** Polls `check` every 20 ms until it holds; dies after `within`. */
export const eventually = <E, R>(
  label: string,
  check: Effect.Effect<boolean, E, R>,
  within: Duration.DurationInput = "20 seconds"
) =>
  Effect.repeat(check, { schedule: Schedule.spaced("20 millis"), until: (done) => done }).pipe(
    Effect.timeoutFail({
      duration: within,
      onTimeout: () => new Error(`timed out after ${Duration.format(Duration.decode(within))} waiting for: ${label}`)
    }),
    Effect.orDie,
    Effect.asVoid
  )

/** Every event of the gateway's log handled, by the time this returns. */
export const caughtUp = (sessionId: string) =>
  eventually(
    `${sessionId} handled up to the gateway's last seq`,
    Effect.gen(function* () {
      const log = yield* logSeqs(sessionId)
      const rows = yield* handledRows(sessionId)
      return log.length > 0 && rows.length >= log.length && rows[rows.length - 1]!.seq >= log[log.length - 1]!
    })
  )

export const counter = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (s) => s.count)

/** Runs a turn to its end on the test's own client. */
export const runTurn = (sessionId: string, text: string) =>
  Effect.flatMap(GatewayClient.GatewayClient, (client) => Stream.runDrain(client.turn(sessionId, text)))

/** The runner's own connection (as in production; tests drive the gateway on another one) and its feed. */
export const runnerFeed = (
  setup: {
    readonly wrapClient?: ((client: GatewayClient.GatewayClient) => GatewayClient.GatewayClient) | undefined
    readonly feed?: SessionFeed.SessionFeedOptions | undefined
  } = {}
) =>
  Layer.scoped(
    SessionFeed.SessionFeed,
    Effect.flatMap(GatewayClient.make({ url: "memory://gateway", pingInterval: 0 }), (client) =>
      SessionFeed.make(setup.feed).pipe(
        Effect.provideService(GatewayClient.GatewayClient, setup.wrapClient ? setup.wrapClient(client) : client)
      )
    )
  )

/** A client for the test itself. */
export const testClient = GatewayClient.layer({ url: "memory://gateway", pingInterval: 0 })

/** Logs off unless FOLLOWER_LOG=debug. */
export const quiet = Logger.minimumLogLevel(process.env.FOLLOWER_LOG === "debug" ? LogLevel.Debug : LogLevel.None)

/** Short engine timings for tests: followers are interrupted 100 ms after a shard leaves or the runner stops. */
export const testTimings = { entityTerminationTimeout: "100 millis" } as const

/**
 * The follower on the TestRunner layers, with the given options, the runner's client to the
 * in-memory gateway (optionally wrapped), a client for the test, and the `handled` table.
 */
export const followerLayer = <E, R>(
  options: SessionFollower.FollowerOptions<E, R>,
  setup: {
    readonly gateway?: Gateway.GatewayOptions
    readonly wrapClient?: (client: GatewayClient.GatewayClient) => GatewayClient.GatewayClient
    readonly feed?: SessionFeed.SessionFeedOptions
  } = {}
) =>
  SessionFollower.layer(options).pipe(
    Layer.provideMerge(Layer.mergeAll(runnerFeed(setup), handledTable, testClient)),
    Layer.provideMerge(FollowerRunner.layerTest({ shardingConfig: testTimings })),
    Layer.provideMerge(InMemory.layer(setup.gateway)),
    Layer.provide(quiet),
    Layer.orDie
  )

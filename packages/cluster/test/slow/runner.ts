/**
 * A follower runner process for the slow tests and the benchmark. Configured by the JSON in
 * `RUNNER_CONFIG` ({@link RunnerConfig}); prints `ready` on stdout once its layers are up. Its
 * handler records each event in `handled (session_id, seq, runner, handled_at)` inside the offset's
 * transaction. SIGTERM stops it gracefully; the tests also SIGKILL it.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as FollowerRunner from "../../src/FollowerRunner.js"
import * as Housekeeping from "../../src/Housekeeping.js"
import * as SessionFollower from "../../src/SessionFollower.js"
import * as SessionWatcher from "../../src/SessionWatcher.js"

export interface RunnerConfig {
  readonly name: string
  readonly database: { readonly pg: string } | { readonly sqlite: string }
  readonly port: number
  readonly gatewayUrl: string
  readonly shardingConfig?: Record<string, string | number | boolean>
  readonly batchSize?: number
  /** Run the tenant's watcher (discovery of sessions). @default true */
  readonly watch?: boolean
}

/** Short engine timings for the failover tests (the engine's defaults are in seconds to minutes). */
export const fastTimings = {
  shardLockRefreshInterval: "1 second",
  shardLockExpiration: "4 seconds",
  runnerHealthCheckInterval: "1 second",
  refreshAssignmentsInterval: "500 millis",
  entityMessagePollInterval: "500 millis",
  entityReplyPollInterval: "100 millis",
  entityTerminationTimeout: "1 second",
  sendRetryInterval: "50 millis"
} as const

const durationKeys = new Set([
  "shardLockRefreshInterval",
  "shardLockExpiration",
  "runnerHealthCheckInterval",
  "refreshAssignmentsInterval",
  "entityMessagePollInterval",
  "entityReplyPollInterval",
  "entityTerminationTimeout",
  "entityMaxIdleTime",
  "entityRegistrationTimeout",
  "sendRetryInterval"
])

const sharding = (config: RunnerConfig) =>
  Object.fromEntries(
    Object.entries(config.shardingConfig ?? {}).map(([key, value]) => [
      key,
      durationKeys.has(key) ? Duration.decode(value as Duration.DurationInput) : value
    ])
  )

export const handledTableSql = `CREATE TABLE IF NOT EXISTS handled (
  session_id VARCHAR(255) NOT NULL, seq BIGINT NOT NULL, runner VARCHAR(64) NOT NULL, handled_at BIGINT NOT NULL)`

const main = () => {
  const config = JSON.parse(process.env.RUNNER_CONFIG ?? "{}") as RunnerConfig
  const runnerAddress = { host: "127.0.0.1", port: config.port }
  const cluster =
    "pg" in config.database
      ? FollowerRunner.layerPg({
          database: { url: Redacted.make(config.database.pg), maxConnections: 8 },
          runnerAddress,
          shardingConfig: sharding(config)
        })
      : FollowerRunner.layerSqlite({
          filename: config.database.sqlite,
          runnerAddress,
          shardingConfig: sharding(config)
        })

  const handledTable = Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(handledTableSql)))
  const followers = Layer.mergeAll(
    SessionFollower.layer({
      handle: (event) =>
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql`INSERT INTO handled (session_id, seq, runner, handled_at)
            VALUES (${event.sessionId}, ${event.seq}, ${config.name}, ${Date.now()})`
        ),
      batchSize: config.batchSize ?? 1
    }),
    config.watch === false ? Layer.empty : SessionWatcher.layer({ interval: "200 millis" }),
    // Nothing is answered during the tests; this runs the singleton on one runner, moving on a kill.
    Housekeeping.layer({ every: "2 seconds" })
  )
  const ready = Layer.effectDiscard(Effect.sync(() => process.stdout.write("ready\n")))
  const app = ready.pipe(
    Layer.provide(followers),
    Layer.provide(handledTable),
    Layer.provide(
      FollowerRunner.layerGateway({
        url: config.gatewayUrl,
        pingInterval: 0,
        reconnectSchedule: Schedule.spaced("100 millis"),
        maxConcurrentJoins: 16
      })
    ),
    Layer.provide(cluster),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )
  NodeRuntime.runMain(Layer.launch(app))
}

if (process.env.RUNNER_CONFIG !== undefined) main()

/**
 * The cluster under the followers, in three settings, plus the runner's gateway connection:
 *
 * - {@link layerSqlite}: one process, SQLite (`SingleRunner` + `@effect/sql-sqlite-node`).
 * - {@link layerPg}: several runner processes sharing PostgreSQL (`NodeClusterSocket` +
 *   `@effect/sql-pg`); {@link layerPgClient} for a process that only sends (`Follow` after
 *   creating a session) without running followers.
 * - {@link layerTest}: in memory (`TestRunner`), with offsets in an in-memory SQLite database.
 *
 * Each provides `Sharding`, the `SqlClient` (the same database holds the cluster's messages, the
 * followers' offsets and, for exactly-once effects, the handlers' own tables) and the
 * {@link OffsetStore.OffsetStore}. The sharding configuration is always complete: every key is
 * given, so `ShardingConfig.layerFromEnv` (which the engine's layers use, and which reads generic
 * variables such as `HOST` and `PORT`) never changes a value; it still parses them, so a malformed
 * one (`PORT=abc`) fails startup with a `ConfigError`.
 *
 * Sharp edges of @effect/cluster 0.60.2 handled here (README, "Engine notes"):
 * - PostgreSQL shard locks: acquiring shards returns every advisory lock the runner already holds,
 *   and the engine then resets the mailbox of all of them (every unprocessed message is read again).
 *   {@link layerPg} filters the answer down to the shards asked for.
 * - `shardsPerGroup` cannot change once messages are stored (entities would move to other shards
 *   under their old messages): the first start records it and later starts with another value fail
 *   with {@link SetupError}.
 *
 * @since 0.1.0
 */

import type { GatewayError } from "@diminuendo/client"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Runners from "@effect/cluster/Runners"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import type { SocketServerError } from "@effect/platform/SocketServer"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import type { MigrationError } from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type { ConfigError } from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as OffsetStore from "./OffsetStore.js"
import * as SessionFeed from "./SessionFeed.js"

/**
 * The runner's configuration does not fit the database it joins.
 *
 * @since 0.1.0
 * @category errors
 */
export class SetupError extends Data.TaggedError("SetupError")<{
  readonly reason: "ShardsPerGroupChanged"
  readonly message: string
}> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions {
  /** Overrides of the engine's sharding settings (lock expiry, poll intervals, ...). */
  readonly shardingConfig?: Partial<Omit<ShardingConfig.ShardingConfig["Type"], "runnerAddress">> | undefined
  /** Prefix of the followers' tables. @default "diminuendo" */
  readonly tablePrefix?: string | undefined
}

const tablePrefix = (options: CommonOptions) =>
  options.tablePrefix === undefined ? {} : { prefix: options.tablePrefix }

const testAddress = RunnerAddress.make("localhost", 3000)

const toRunnerAddress = (address: Address) => RunnerAddress.make(address.host, address.port)

/**
 * Where the followers' needs differ from the engine's defaults: a `Follow` never finishes by
 * itself, so a shard moving away or a runner stopping waits `entityTerminationTimeout` for it
 * before interrupting it (an interrupted follower rolls back its transaction; nothing is lost).
 */
const followerDefaults: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  entityTerminationTimeout: Duration.seconds(2)
}

/** Every key given, so nothing comes from the environment. */
const completeConfig = (
  runnerAddress: Option.Option<RunnerAddress.RunnerAddress>,
  options: CommonOptions
): ShardingConfig.ShardingConfig["Type"] => ({
  ...ShardingConfig.defaults,
  ...followerDefaults,
  ...options.shardingConfig,
  runnerAddress
})

/** Records `shardsPerGroup` on the first start and refuses another value later. */
const checkSettings = (config: ShardingConfig.ShardingConfig["Type"]) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* OffsetStore.OffsetStore
    const table = sql(store.settingsTable)
    const value = String(config.shardsPerGroup)
    yield* sql`INSERT INTO ${table} (name, value) VALUES ('shardsPerGroup', ${value}) ON CONFLICT (name) DO NOTHING`
    const rows = yield* sql<{ value: string }>`SELECT value FROM ${table} WHERE name = 'shardsPerGroup'`
    const stored = rows[0]?.value
    if (stored !== undefined && stored !== value)
      return yield* new SetupError({
        reason: "ShardsPerGroupChanged",
        message: `this database's cluster runs with shardsPerGroup = ${stored}; this runner has ${value}, and it cannot change once messages are stored`
      })
  })

/** The SQL layers every setting shares: the store (tables created) and the settings check. */
const followerTables = (config: ShardingConfig.ShardingConfig["Type"], options: CommonOptions) =>
  Layer.effectDiscard(checkSettings(config)).pipe(Layer.provideMerge(OffsetStore.layer(tablePrefix(options))))

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteOptions extends CommonOptions {
  /** The database file (created if missing; WAL journal). */
  readonly filename: string
  /**
   * The runner's address. A single runner listens nowhere, but the address names its shard locks
   * and its registration: keep it stable across restarts of the same process. @default 127.0.0.1:34431
   */
  readonly runnerAddress?: Address | undefined
}

/**
 * One process on SQLite: every shard is this runner's.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (
  options: SqliteOptions
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | SqlClient.SqlClient | OffsetStore.OffsetStore,
  ConfigError | SqlError | MigrationError | SetupError
> => {
  const config = completeConfig(
    Option.some(toRunnerAddress(options.runnerAddress ?? { host: "127.0.0.1", port: 34431 })),
    options
  )
  const sqlite = SqliteClient.layer({ filename: options.filename })
  const tables = followerTables(config, options)
  return SingleRunner.layer({ shardingConfig: config, runnerStorage: "sql" }).pipe(
    Layer.provide(tables),
    Layer.merge(tables),
    Layer.provideMerge(sqlite)
  )
}

/**
 * The PostgreSQL runner storage with the shard-lock answer reduced to the shards asked for (the
 * engine's reports every lock the connection holds, which makes it re-read every unprocessed
 * message of those shards on each acquisition).
 *
 * @internal
 */
export const runnerStorageOnlyAsked = Layer.scoped(
  RunnerStorage.RunnerStorage,
  Effect.map(SqlRunnerStorage.make({}), (storage) =>
    RunnerStorage.RunnerStorage.of({
      ...storage,
      acquire: (address, shardIds) => {
        const asked = new Set(Array.from(shardIds, String))
        return Effect.map(storage.acquire(address, asked.size === 0 ? [] : shardIds), (acquired) =>
          acquired.filter((shardId) => asked.has(String(shardId)))
        )
      }
    })
  )
)

/**
 * @since 0.1.0
 * @category models
 */
export interface PgOptions extends CommonOptions {
  /** The database. One cluster per database: the engine's advisory lock keys ignore table prefixes. */
  readonly database: PgClient.PgClientConfig
  /**
   * The address other runners reach this one at (required: never taken from `HOST`/`PORT`). It
   * also names this runner's registration and locks.
   */
  readonly runnerAddress: Address
  /** Where to listen, when it differs from `runnerAddress` (a container behind a proxy). */
  readonly listenAddress?: Address | undefined
}

const pgStorage = (config: ShardingConfig.ShardingConfig["Type"]) =>
  Layer.mergeAll(Layer.orDie(SqlMessageStorage.layer), Layer.orDie(runnerStorageOnlyAsked)).pipe(
    Layer.provide(ShardingConfig.layer(config))
  )

/**
 * A runner process of a cluster on PostgreSQL; runners talk to each other over TCP sockets.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (
  options: PgOptions
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | SqlClient.SqlClient | OffsetStore.OffsetStore,
  ConfigError | SqlError | MigrationError | SetupError | SocketServerError
> => {
  const config: ShardingConfig.ShardingConfig["Type"] = {
    ...completeConfig(Option.some(toRunnerAddress(options.runnerAddress)), options),
    runnerListenAddress: Option.map(Option.fromNullable(options.listenAddress), toRunnerAddress)
  }
  const tables = followerTables(config, options)
  const storage = pgStorage(config)
  return NodeClusterSocket.layer({ storage: "byo", shardingConfig: config }).pipe(
    Layer.provideMerge(storage),
    Layer.provide(tables),
    Layer.merge(tables),
    Layer.provideMerge(PgClient.layer(options.database))
  )
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PgClientOptions extends CommonOptions {
  readonly database: PgClient.PgClientConfig
}

/**
 * A process that sends to the cluster on PostgreSQL (`SessionFollower.follow` after creating a
 * session) without running entities.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPgClient = (
  options: PgClientOptions
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | SqlClient.SqlClient,
  ConfigError | SqlError
> => {
  const config = completeConfig(Option.none(), options)
  return NodeClusterSocket.layer({ storage: "byo", clientOnly: true, shardingConfig: config }).pipe(
    Layer.provideMerge(pgStorage(config)),
    Layer.provideMerge(PgClient.layer(options.database))
  )
}

/**
 * In memory, for tests: the layers of `TestRunner` (memory message and runner storage, every
 * shard local), with a sharding configuration, and the offsets in an in-memory SQLite database.
 * (`TestRunner.layer` fixes the engine's defaults, whose 15 s `entityTerminationTimeout` every
 * running `Follow` waits out when the test's scope closes.)
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  options: CommonOptions = {}
): Layer.Layer<
  | Sharding.Sharding
  | Runners.Runners
  | MessageStorage.MessageStorage
  | MessageStorage.MemoryDriver
  | SqlClient.SqlClient
  | OffsetStore.OffsetStore,
  ConfigError | SqlError | MigrationError
> =>
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer(completeConfig(Option.some(testAddress), options))),
    Layer.merge(OffsetStore.layer(tablePrefix(options))),
    Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))
  )

/**
 * The runner's one gateway connection (`GatewayClient` over `NodeTransport`) and the
 * {@link SessionFeed.SessionFeed} that shares it between followers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerGateway = (
  options: GatewayClient.GatewayClientOptions & SessionFeed.SessionFeedOptions
): Layer.Layer<SessionFeed.SessionFeed | GatewayClient.GatewayClient, GatewayError> =>
  SessionFeed.layer(options).pipe(Layer.provideMerge(GatewayClient.layer(options)), Layer.provide(NodeTransport.layer))

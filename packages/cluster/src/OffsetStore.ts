/**
 * Where each follower records the last `seq` it handled, in the cluster's SQL database.
 *
 * The update is fenced: {@link OffsetStore.commit} moves a session's offset from `from` to `to`
 * only when the stored offset is still `from`, so an owner that lost its shard (and has not noticed
 * yet) can never move it. Run inside the same `SqlClient` transaction as a handler's own writes,
 * the commit makes those writes happen exactly once: a refused commit rolls them back.
 *
 * Tables (prefix `diminuendo` by default): `<prefix>_offsets` (one row per followed session) and
 * `<prefix>_settings` (cluster settings that must not change, see `FollowerRunner`), created by
 * migrations recorded in `<prefix>_migrations`.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category models
 */
export interface Offset {
  /** The last `seq` handled (0: nothing yet). */
  readonly lastSeq: number
  /** Following was stopped for good (`SessionFollower` `Stop`). */
  readonly stopped: boolean
}

/**
 * A commit was refused: the stored offset is no longer the one this owner started from, so
 * another owner has moved it.
 *
 * @since 0.1.0
 * @category errors
 */
export class StaleOffset extends Data.TaggedError("StaleOffset")<{
  readonly sessionId: string
  readonly expected: number
}> {
  override get message() {
    return `the offset of ${this.sessionId} is no longer ${this.expected}: another owner moved it`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OffsetStore {
  /** The session's offset; creates it at 0 the first time. */
  readonly load: (sessionId: string) => Effect.Effect<Offset, SqlError>
  /** The session's offset as stored (0 and not stopped when there is none); creates nothing. */
  readonly read: (sessionId: string) => Effect.Effect<Offset, SqlError>
  /** Moves the offset from `from` to `to`, or fails with {@link StaleOffset} if it is not at `from`. */
  readonly commit: (sessionId: string, from: number, to: number) => Effect.Effect<void, StaleOffset | SqlError>
  /** Marks the session as no longer followed. */
  readonly markStopped: (sessionId: string) => Effect.Effect<void, SqlError>
  /** The settings table's name, for `FollowerRunner`'s checks. */
  readonly settingsTable: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export const OffsetStore = Context.GenericTag<OffsetStore>("@diminuendo/cluster/OffsetStore")

/**
 * @since 0.1.0
 * @category models
 */
export interface OffsetStoreOptions {
  /** Prefix of the tables. @default "diminuendo" */
  readonly prefix?: string
}

const migrations = (offsets: string, settings: string) =>
  Migrator.fromRecord({
    "0001_create_offsets": Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(offsets)} (
        session_id VARCHAR(255) PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        stopped INTEGER NOT NULL DEFAULT 0,
        updated_at BIGINT NOT NULL
      )`
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(settings)} (
        name VARCHAR(255) PRIMARY KEY,
        value TEXT NOT NULL
      )`
    })
  })

/**
 * Creates the tables if needed and returns the store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: OffsetStoreOptions = {}
): Effect.Effect<OffsetStore, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const prefix = options.prefix ?? "diminuendo"
    const offsets = `${prefix}_offsets`
    const settings = `${prefix}_settings`
    yield* Migrator.make({})({ loader: migrations(offsets, settings), table: `${prefix}_migrations` })
    const table = sql(offsets)

    const read = (sessionId: string) =>
      Effect.map(
        sql<{ last_seq: number | string; stopped: number | string }>`
          SELECT last_seq, stopped FROM ${table} WHERE session_id = ${sessionId}`,
        (rows): Offset => ({ lastSeq: Number(rows[0]?.last_seq ?? 0), stopped: Number(rows[0]?.stopped ?? 0) === 1 })
      )

    const load = (sessionId: string) =>
      Effect.zipRight(
        sql`INSERT INTO ${table} (session_id, last_seq, stopped, updated_at)
          VALUES (${sessionId}, 0, 0, ${Date.now()}) ON CONFLICT (session_id) DO NOTHING`,
        read(sessionId)
      )

    const commit = (sessionId: string, from: number, to: number) =>
      Effect.flatMap(
        sql`UPDATE ${table} SET last_seq = ${to}, updated_at = ${Date.now()}
          WHERE session_id = ${sessionId} AND last_seq = ${from} RETURNING session_id`,
        (rows) => (rows.length === 1 ? Effect.void : Effect.fail(new StaleOffset({ sessionId, expected: from })))
      )

    const markStopped = (sessionId: string) =>
      Effect.asVoid(
        Effect.zipRight(
          load(sessionId),
          sql`UPDATE ${table} SET stopped = 1, updated_at = ${Date.now()} WHERE session_id = ${sessionId}`
        )
      )

    return { load, read, commit, markStopped, settingsTable: settings }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: OffsetStoreOptions = {}
): Layer.Layer<OffsetStore, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Layer.effect(OffsetStore, make(options))

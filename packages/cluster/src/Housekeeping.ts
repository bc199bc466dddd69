/**
 * Housekeeping the engine does not do: its message table keeps every persisted request and reply
 * forever. {@link prune} deletes the requests answered (with a final reply) longer ago than
 * `olderThan`, with their replies and envelopes; {@link layer} runs it as a cluster singleton (one
 * runner at a time).
 *
 * A pruned `Follow` is forgotten: sending `Follow` for that session again starts a new one (from
 * the committed offset; a stopped session ends again at once, a deleted one too).
 *
 * @since 0.1.0
 */

import * as MachineId from "@effect/cluster/MachineId"
import type * as Sharding from "@effect/cluster/Sharding"
import * as Singleton from "@effect/cluster/Singleton"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"

/**
 * @since 0.1.0
 * @category models
 */
export interface PruneOptions {
  /** Requests answered longer ago than this are deleted. @default 1 hour */
  readonly olderThan?: Duration.DurationInput | undefined
  /** The cluster's table prefix (`SqlMessageStorage`'s). @default "cluster" */
  readonly prefix?: string | undefined
}

/**
 * Requests (and their replies and envelopes) deleted by {@link prune}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const pruned = Metric.counter("diminuendo_cluster_pruned_requests", { incremental: true })

/**
 * Deletes finished requests; returns how many message rows were deleted.
 *
 * @since 0.1.0
 * @category housekeeping
 */
export const prune = (options: PruneOptions = {}): Effect.Effect<number, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const prefix = options.prefix ?? "cluster"
    const messages = sql(`${prefix}_messages`)
    const replies = sql(`${prefix}_replies`)
    const now = yield* Clock.currentTimeMillis
    // Reply ids are snowflakes: their high bits are the time they were written.
    const cutoff = Snowflake.make({
      timestamp: now - Duration.toMillis(Duration.decode(options.olderThan ?? "1 hour")),
      machineId: MachineId.make(0),
      sequence: 0
    })
    const finished = sql`SELECT request_id FROM ${replies} WHERE kind = 0 AND id < ${sql.literal(String(cutoff))}`
    const deleted = yield* Effect.zipLeft(
      sql`DELETE FROM ${messages} WHERE request_id IN (${finished}) RETURNING id`,
      sql`DELETE FROM ${replies} WHERE request_id IN (${finished})`
    ).pipe(sql.withTransaction)
    yield* Metric.incrementBy(pruned, deleted.length)
    return deleted.length
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface HousekeepingOptions extends PruneOptions {
  /** Time between two prunes. @default 10 minutes */
  readonly every?: Duration.DurationInput | undefined
}

/**
 * Prunes every `every`, on one runner of the cluster at a time.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: HousekeepingOptions = {}
): Layer.Layer<never, never, Sharding.Sharding | SqlClient.SqlClient> =>
  Singleton.make(
    "diminuendo/cluster/Housekeeping",
    Effect.forever(
      Effect.zipRight(
        Effect.sleep(options.every ?? "10 minutes"),
        prune(options).pipe(
          Effect.tap((count) =>
            count > 0 ? Effect.logInfo("pruned finished cluster messages", { count }) : Effect.void
          ),
          Effect.catchAll((error) => Effect.logWarning("pruning cluster messages failed", error.message))
        )
      )
    )
  )

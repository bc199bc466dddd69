import type { ServerEvent } from "@diminuendo/protocol"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as EntityAddress from "@effect/cluster/EntityAddress"
import type { EntityId } from "@effect/cluster/EntityId"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as Deferred from "effect/Deferred"
import type * as DurationNs from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { FollowerError } from "./FollowerError.js"
import * as Follow_ from "./internal/follow.js"
import * as OffsetStore from "./OffsetStore.js"
import * as SessionFeed from "./SessionFeed.js"

// ---------------------------------------------------------------------------------------------
// Protocol
// ---------------------------------------------------------------------------------------------

/**
 * How a `Follow` ended without error.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FollowEnded = Schema.Struct({
  outcome: Schema.Literal("deleted", "stopped"),
  lastSeq: Schema.Number
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const FollowerStatus = Schema.Struct({
  sessionId: Schema.String,
  /** Whether a `Follow` is running in this entity now. */
  following: Schema.Boolean,
  /** The committed offset. */
  lastSeq: Schema.Number,
  stopped: Schema.Boolean,
  /** Failed handler attempts since the last commit. */
  failedAttempts: Schema.Number,
  lastError: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category rpcs
 */
export const Follow = Rpc.make("Follow", {
  payload: { sessionId: Schema.String },
  primaryKey: ({ sessionId }) => sessionId,
  success: FollowEnded,
  error: FollowerError
}).annotate(ClusterSchema.Persisted, true)

/**
 * @since 0.1.0
 * @category rpcs
 */
export const Status = Rpc.make("Status", { success: FollowerStatus })

/**
 * Stops following for good: the stop is recorded with the offset (a later `Follow` ends at once)
 * and the running `Follow` is answered `stopped`.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Stop = Rpc.make("Stop")

/**
 * @since 0.1.0
 * @category entities
 */
export const SessionFollower = Entity.make("SessionFollower", [Follow, Status, Stop])

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface FollowerOptions<E, R> {
  /** Handles one session event. Its SQL writes join the offset's transaction (see `transactional`). */
  readonly handle: (event: ServerEvent.SessionEvent) => Effect.Effect<void, E, R>
  /**
   * Handles events the gateway no longer has (`gap`), confirmed by a second join; the offset then
   * moves past them. @default logs a warning
   */
  readonly onGap?: ((gap: ServerEvent.Gap) => Effect.Effect<void, E, R>) | undefined
  /**
   * Run the handlers and the offset commit in one transaction of the `SqlClient` in context: the
   * handlers' SQL writes are then exactly once (a refused or failed commit rolls them back).
   * Off, or for effects outside that database, events are handled at least once and handlers must
   * be idempotent by `seq`. @default true
   */
  readonly transactional?: boolean | undefined
  /**
   * Events per commit: up to this many events that have already arrived are handled, then one
   * offset commit (one transaction) covers them. 1 commits after every event. A crash then
   * repeats at most this many non-transactional effects. @default 1
   */
  readonly batchSize?: number | undefined
  /**
   * Retries of a failing handler (failure or defect) before the `Follow` fails with
   * `HandlerFailed`. @default exponential from 100 ms, 5 retries
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Delays between attempts while the gateway or the database fails; reset after a minute without
   * failures. @default exponential from 200 ms ×2, capped at 30 s, forever
   */
  readonly reconnect?: Schedule.Schedule<unknown, unknown> | undefined
  /** The entity's idle time before the engine stops it (only once no `Follow` runs). @default 1 minute */
  readonly maxIdleTime?: DurationNs.DurationInput | undefined
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/**
 * Counters over every follower of the process: `events` (handled and committed), `commits`
 * (offset commits, one transaction each), `staleCommits` (refused: another owner had moved the
 * offset), `gaps` (handed to the gap handler), `resyncs` (feeds re-opened from the committed
 * offset: a hole, a gap to confirm, a slow consumer, a refused commit), `handlerFailures`
 * (failed handler attempts).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = Follow_.metrics

/**
 * The follow loop of one session, as the `Follow` handler runs it. Exported for tests that run a
 * second, stale owner of the same session.
 *
 * @internal
 */
export const run = Follow_.run

// ---------------------------------------------------------------------------------------------
// Layer and client helpers
// ---------------------------------------------------------------------------------------------

/**
 * Registers the follower entity on this runner with the handler. Needs the runner's
 * `Sharding`, a {@link SessionFeed.SessionFeed}, the {@link OffsetStore.OffsetStore} and the
 * `SqlClient` (the same database as the cluster's, see `FollowerRunner`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(options: FollowerOptions<E, R>) =>
  SessionFollower.toLayer(
    Effect.gen(function* () {
      const address = yield* Entity.CurrentAddress
      const store = yield* OffsetStore.OffsetStore
      const sessionId = address.entityId
      const stop = yield* Deferred.make<void>()
      const live: Follow_.Live = { following: false, lastSeq: 0, failedAttempts: 0, lastError: undefined }
      return SessionFollower.of({
        Follow: (request) =>
          request.payload.sessionId !== sessionId
            ? Effect.dieMessage(`Follow for ${request.payload.sessionId} sent to the follower of ${sessionId}`)
            : Effect.suspend(() => {
                live.following = true
                return Effect.raceFirst(
                  run(sessionId, options, live),
                  // Where it stands when it stops, not when it started.
                  Effect.map(Deferred.await(stop), () => ({ outcome: "stopped", lastSeq: live.lastSeq }) as const)
                ).pipe(
                  Effect.tap((ended) =>
                    Effect.logInfo("stopped following").pipe(Effect.annotateLogs({ sessionId, ...ended }))
                  ),
                  Effect.tapError((error) => Effect.logError(error.message))
                )
              }),
        Status: () =>
          Effect.map(Effect.orDie(store.read(sessionId)), (offset) => ({
            sessionId,
            following: live.following,
            lastSeq: offset.lastSeq,
            stopped: offset.stopped,
            failedAttempts: live.failedAttempts,
            ...(live.lastError === undefined ? {} : { lastError: live.lastError })
          })),
        Stop: () => Effect.zipRight(Effect.orDie(store.markStopped(sessionId)), Deferred.succeed(stop, undefined))
      })
    }),
    { concurrency: "unbounded", maxIdleTime: options.maxIdleTime }
  )

/**
 * Starts following a session (fire and forget: the request is persisted before this returns;
 * sending it again is harmless).
 *
 * @since 0.1.0
 * @category client
 */
export const follow = (sessionId: string) =>
  Effect.flatMap(SessionFollower.client, (client) => client(sessionId).Follow({ sessionId }, { discard: true }))

/**
 * @since 0.1.0
 * @category client
 */
export const status = (sessionId: string) =>
  Effect.flatMap(SessionFollower.client, (client) => client(sessionId).Status())

/**
 * @since 0.1.0
 * @category client
 */
export const stop = (sessionId: string) => Effect.flatMap(SessionFollower.client, (client) => client(sessionId).Stop())

/**
 * Runs a `Follow` that ended (after `HandlerFailed`, for instance) again, from its committed
 * offset: its stored reply is cleared and the request re-delivered.
 *
 * @since 0.1.0
 * @category client
 */
export const restart = (sessionId: string) =>
  Effect.gen(function* () {
    const sharding = yield* Sharding.Sharding
    const storage = yield* MessageStorage.MessageStorage
    const entityId = sessionId as EntityId
    const address = EntityAddress.make({
      entityType: SessionFollower.type,
      entityId,
      shardId: sharding.getShardId(entityId, SessionFollower.getShardGroup(entityId))
    })
    const requestId = yield* storage.requestIdForPrimaryKey({ address, tag: Follow._tag, id: sessionId })
    if (Option.isSome(requestId)) yield* sharding.reset(requestId.value)
    yield* follow(sessionId)
  })

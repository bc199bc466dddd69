/**
 * A cluster entity per gateway session (entity id = session id) that hands each of the session's
 * events to a handler, exactly once by `seq` when the handler's writes share the offset's SQL
 * transaction, at least once otherwise.
 *
 * - **Follow** `{ sessionId }`: a persisted request (`ClusterSchema.Persisted`, primary key the
 *   session id, so sending it twice is harmless) that is not answered while the session lives.
 *   While it is in flight the engine keeps the entity alive; when the runner stops or loses the
 *   shard it is cut off unanswered, and the shard's next owner reads it from storage and runs it
 *   again. It is answered when the session no longer exists (`deleted`), when `Stop` was sent
 *   (`stopped`), or with a {@link FollowerError} when the handler kept failing.
 * - **Status** and **Stop** run beside it (the entity's concurrency is unbounded).
 *
 * The follower joins the session through the runner's shared connection ({@link SessionFeed})
 * from the last `seq` it committed, hands each event to the handler, and commits the new offset
 * with a fenced update ({@link OffsetStore}). An event whose `seq` is not the next one is never
 * handled: a duplicate is skipped, a hole re-opens the feed from the committed offset, and a gap
 * the gateway reports again after a re-join goes to the gap handler, which moves the offset past it.
 *
 * @since 0.1.0
 */
import type { GatewayClient, GatewayError } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as EntityAddress from "@effect/cluster/EntityAddress"
import type { EntityId } from "@effect/cluster/EntityId"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import type * as DurationNs from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { FollowerError } from "./FollowerError.js"
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

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.intersect(Schedule.recurs(5))
)

const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.union(Schedule.spaced("30 seconds"))
)

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/**
 * Counters over every follower of the process.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  /** Events handled and committed. */
  events: Metric.counter("diminuendo_follower_events", { incremental: true }),
  /** Offset commits (transactions). */
  commits: Metric.counter("diminuendo_follower_commits", { incremental: true }),
  /** Commits refused because another owner had moved the offset. */
  staleCommits: Metric.counter("diminuendo_follower_stale_commits", { incremental: true }),
  /** Gaps handed to the gap handler. */
  gaps: Metric.counter("diminuendo_follower_gaps", { incremental: true }),
  /** Feeds re-opened from the committed offset (hole, gap check, slow consumer, stale offset). */
  resyncs: Metric.counter("diminuendo_follower_resyncs", { incremental: true }),
  /** Failed handler attempts. */
  handlerFailures: Metric.counter("diminuendo_follower_handler_failures", { incremental: true })
}

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/** Re-open the feed from the committed offset. */
class Resync extends Data.TaggedError("Resync")<{ readonly reason: string }> {}

/** The gateway or the database failed; try again after a delay. */
class Transient extends Data.TaggedError("Transient")<{ readonly message: string }> {}

/** A handler attempt failed (its cause kept for the report). */
class HandlerFailure extends Data.TaggedError("HandlerFailure")<{
  readonly seq: number
  readonly gap: boolean
  readonly cause: Cause.Cause<unknown>
}> {}

interface Live {
  following: boolean
  lastSeq: number
  failedAttempts: number
  lastError: string | undefined
}

const sessionNotFound = (error: GatewayError) => error.reason === "ServerError" && error.code === "SESSION_NOT_FOUND"

const transient = (error: GatewayError | SqlError) => new Transient({ message: error.message })

/**
 * The follow loop of one session: returns how it ended, or fails with {@link FollowerError}.
 * Exported for tests that run a second, stale owner of the same session.
 *
 * @internal
 */
export const run = <E, R>(
  sessionId: string,
  options: FollowerOptions<E, R>,
  live: Live = { following: true, lastSeq: 0, failedAttempts: 0, lastError: undefined }
): Effect.Effect<
  typeof FollowEnded.Type,
  FollowerError,
  R | SqlClient.SqlClient | OffsetStore.OffsetStore | SessionFeed.SessionFeed
> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* OffsetStore.OffsetStore
    const feeds = yield* SessionFeed.SessionFeed
    const transactional = options.transactional ?? true
    const batchSize = Math.max(1, options.batchSize ?? 1)
    const retry = options.retry ?? defaultRetry
    const onGap =
      options.onGap ??
      ((gap: ServerEvent.Gap) =>
        Effect.logWarning("events lost: the gateway no longer has them").pipe(
          Effect.annotateLogs({ sessionId, fromSeq: gap.fromSeq, toSeq: gap.toSeq })
        ))
    /** Set when a gap made us re-join at this offset: the same gap after the re-join is real. */
    let gapCheckedAt = -1

    const attempt = <A>(
      seq: number,
      gap: boolean,
      effect: Effect.Effect<A, E, R>
    ): Effect.Effect<A, HandlerFailure, R> =>
      Effect.catchAllCause(effect, (cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.fail(new HandlerFailure({ seq, gap, cause }))
      )

    const recordFailure = (failure: HandlerFailure) =>
      Effect.zipRight(
        Metric.increment(metrics.handlerFailures),
        Effect.sync(() => {
          live.failedAttempts += 1
          live.lastError = Cause.pretty(failure.cause)
        })
      )

    const surrender = (failure: HandlerFailure) =>
      new FollowerError({
        reason: failure.gap ? "GapHandlerFailed" : "HandlerFailed",
        sessionId,
        seq: failure.seq,
        message: `the ${failure.gap ? "gap " : ""}handler failed on ${sessionId} at seq ${failure.seq}: ${Cause.pretty(failure.cause)}`
      })

    const committed = (to: number, events: number) =>
      Effect.zipRight(
        Effect.all([Metric.incrementBy(metrics.events, events), Metric.increment(metrics.commits)], {
          discard: true
        }),
        Effect.sync(() => {
          live.lastSeq = to
          live.failedAttempts = 0
          live.lastError = undefined
        })
      )

    /** The commit's failures, sorted: a refused commit re-opens the feed, SQL errors wait and retry. */
    const commitFrom = (from: number, to: number) =>
      Effect.catchTags(store.commit(sessionId, from, to), {
        StaleOffset: (stale) =>
          Effect.zipRight(Metric.increment(metrics.staleCommits), Effect.fail(new Resync({ reason: stale.message }))),
        SqlError: (error) => Effect.fail(transient(error))
      })

    const inTransaction = <A>(effect: Effect.Effect<A, Resync | Transient | HandlerFailure, R>) =>
      Effect.catchTag(sql.withTransaction(effect), "SqlError", (error) => Effect.fail(transient(error)))

    /** Handles consecutive events and commits the offset past them. */
    const handleEvents = (events: ReadonlyArray<ServerEvent.SessionEvent>) =>
      Effect.suspend(() => {
        const from = live.lastSeq
        const to = events[events.length - 1]!.seq
        if (transactional) {
          // One transaction for the handlers and the commit, retried whole.
          return inTransaction(
            Effect.zipRight(
              Effect.forEach(events, (event) => attempt(event.seq, false, options.handle(event)), { discard: true }),
              commitFrom(from, to)
            )
          ).pipe(
            Effect.tapErrorTag("HandlerFailure", recordFailure),
            Effect.retry({ schedule: retry, while: (e) => e._tag === "HandlerFailure" }),
            Effect.catchTag("HandlerFailure", (failure) => Effect.fail(surrender(failure))),
            Effect.zipRight(committed(to, events.length))
          )
        }
        // Each event retried on its own; on giving up, what succeeded before it is committed.
        return Effect.gen(function* () {
          let done = 0
          const failed = yield* Effect.forEach(
            events,
            (event) =>
              attempt(event.seq, false, options.handle(event)).pipe(
                Effect.tapError(recordFailure),
                Effect.retry(retry),
                Effect.zipRight(
                  Effect.sync(() => {
                    done += 1
                  })
                )
              ),
            { discard: true }
          ).pipe(
            Effect.as(undefined),
            Effect.catchTag("HandlerFailure", (failure) => Effect.succeed(failure))
          )
          if (done > 0) {
            yield* commitFrom(from, events[done - 1]!.seq)
            yield* committed(events[done - 1]!.seq, done)
          }
          if (failed !== undefined) return yield* Effect.fail(surrender(failed))
        })
      })

    const handleGap = (gap: ServerEvent.Gap) =>
      Effect.suspend(() => {
        const from = live.lastSeq
        const covered: ServerEvent.Gap = { ...gap, fromSeq: Math.max(gap.fromSeq, from + 1) }
        const once = Effect.zipRight(attempt(gap.toSeq, true, onGap(covered)), commitFrom(from, gap.toSeq))
        return (transactional ? inTransaction(once) : once).pipe(
          Effect.tapErrorTag("HandlerFailure", recordFailure),
          Effect.retry({ schedule: retry, while: (e) => e._tag === "HandlerFailure" }),
          Effect.catchTag("HandlerFailure", (failure) => Effect.fail(surrender(failure))),
          Effect.zipRight(Metric.increment(metrics.gaps)),
          Effect.zipRight(committed(gap.toSeq, 0))
        )
      })

    /** Hands a chunk of items to the handlers, in batches of consecutive events. */
    const handleChunk = (items: Iterable<GatewayClient.SessionItem>) =>
      Effect.gen(function* () {
        let batch: Array<ServerEvent.SessionEvent> = []
        const flush = Effect.suspend(() => {
          if (batch.length === 0) return Effect.void
          const events = batch
          batch = []
          return handleEvents(events)
        })
        for (const item of items) {
          const pending = batch.length > 0 ? batch[batch.length - 1]!.seq : live.lastSeq
          if (item.type === "gap") {
            yield* flush
            if (item.toSeq <= live.lastSeq) continue
            if (gapCheckedAt !== live.lastSeq) {
              gapCheckedAt = live.lastSeq
              return yield* new Resync({ reason: `gap ${item.fromSeq}..${item.toSeq}: checking with a re-join` })
            }
            yield* handleGap(item)
            continue
          }
          // A duplicate, or a stream snapshot marking a position already handled.
          if (item.seq <= pending) continue
          if (item.seq > pending + 1) {
            yield* flush
            return yield* new Resync({ reason: `hole: expected seq ${pending + 1}, got ${item.seq}` })
          }
          batch.push(item)
          if (batch.length >= batchSize) yield* flush
        }
        yield* flush
      })

    /** A slow consumer re-opens the feed; other gateway failures wait and retry. */
    const fromGateway = (error: GatewayError) =>
      error.reason === "SlowConsumer" ? new Resync({ reason: error.message }) : transient(error)

    /** One pass: load the offset, open the feed from it, handle what arrives. */
    const pass = Effect.gen(function* () {
      const offset = yield* Effect.catchTag(store.load(sessionId), "SqlError", (error) => Effect.fail(transient(error)))
      live.lastSeq = offset.lastSeq
      if (offset.stopped) return { outcome: "stopped", lastSeq: offset.lastSeq } as const
      const feed = yield* Effect.catchAll(feeds.open(sessionId, offset.lastSeq), (error) =>
        sessionNotFound(error) ? Effect.succeed(undefined) : Effect.fail(fromGateway(error))
      )
      if (feed === undefined) return { outcome: "deleted", lastSeq: offset.lastSeq } as const
      yield* Stream.runForEachChunk(feed.items, handleChunk).pipe(
        Effect.catchTag("GatewayError", (error) => Effect.fail(fromGateway(error)))
      )
      // The feed ends only when the runner's client closes (the runner is stopping).
      return yield* new Transient({ message: "the session feed ended: the gateway client closed" })
    }).pipe(Effect.scoped)

    const reconnect = Schedule.resetAfter(options.reconnect ?? defaultReconnect, "1 minute")
    return yield* pass.pipe(
      Effect.tapErrorTag("Resync", (resync) =>
        Effect.zipRight(
          Metric.increment(metrics.resyncs),
          Effect.logDebug("re-opening the session feed").pipe(Effect.annotateLogs({ sessionId, reason: resync.reason }))
        )
      ),
      Effect.retry({ while: (e) => e._tag === "Resync", schedule: Schedule.spaced("20 millis") }),
      Effect.tapErrorTag("Transient", (transient) =>
        Effect.logWarning("following failed; trying again").pipe(
          Effect.annotateLogs({ sessionId, error: transient.message })
        )
      ),
      Effect.retry({ while: (e) => e._tag === "Transient" || e._tag === "Resync", schedule: reconnect }),
      Effect.catchTags({
        Resync: (e) => Effect.die(e),
        Transient: (e) => Effect.die(e)
      }),
      Effect.ensuring(
        Effect.sync(() => {
          live.following = false
        })
      )
    )
  })

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
      const live: Live = { following: false, lastSeq: 0, failedAttempts: 0, lastError: undefined }
      return SessionFollower.of({
        Follow: (request) =>
          request.payload.sessionId !== sessionId
            ? Effect.dieMessage(`Follow for ${request.payload.sessionId} sent to the follower of ${sessionId}`)
            : Effect.suspend(() => {
                live.following = true
                return Effect.raceFirst(
                  run(sessionId, options, live),
                  Effect.as(Deferred.await(stop), { outcome: "stopped", lastSeq: live.lastSeq } as const)
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

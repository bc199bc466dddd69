/**
 * The follow loop of one session (the `Follow` handler's body): load the committed offset, open
 * the session's feed from it, hand each event to the handler, commit the offset with the fence,
 * and sort what goes wrong into re-opening the feed, waiting and retrying, or giving up.
 *
 * @internal
 */
import type { GatewayClient, GatewayError } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { FollowerError } from "../FollowerError.js"
import * as OffsetStore from "../OffsetStore.js"
import * as SessionFeed from "../SessionFeed.js"
import type { FollowEnded, FollowerOptions } from "../SessionFollower.js"

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.intersect(Schedule.recurs(5))
)

const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.union(Schedule.spaced("30 seconds"))
)

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

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

export interface Live {
  following: boolean
  lastSeq: number
  failedAttempts: number
  lastError: string | undefined
}

const sessionNotFound = (error: GatewayError) => error.reason === "ServerError" && error.code === "SESSION_NOT_FOUND"

const transient = (error: GatewayError | SqlError) => new Transient({ message: error.message })

/** The follow loop of one session: returns how it ended, or fails with {@link FollowerError}. */
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
          if (item.type === "reset") {
            // The gateway's log went backwards (a failover restarted it): the offset follows it,
            // fenced like any commit, and the new log is handled from there.
            yield* flush
            yield* commitFrom(live.lastSeq, item.seq)
            yield* committed(item.seq, 0)
            continue
          }
          if (item.type === "unknown") {
            // An event of a type this version does not know holds its place: the offset passes it.
            yield* flush
            if (item.seq !== live.lastSeq + 1) {
              if (item.seq <= live.lastSeq) continue
              return yield* new Resync({ reason: `hole: expected seq ${live.lastSeq + 1}, got ${item.seq}` })
            }
            yield* commitFrom(live.lastSeq, item.seq)
            yield* committed(item.seq, 0)
            continue
          }
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

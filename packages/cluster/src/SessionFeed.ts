/**
 * One gateway connection per runner, shared by every follower on it. A follower opens its
 * session's feed from a `seq`: the feed leaves the session if the client had joined it (a join of
 * a joined session resumes from where the client is, not from `afterSeq`), subscribes to the
 * session's events on the shared `GatewayClient`, joins the session with `afterSeq` (the gateway
 * replays what followed), and leaves when the follower's scope closes. The connection is the
 * followers': another stream of the same session on it would see the replays. At most `maxConcurrentJoins` joins are in flight per
 * runner, so a failover that hands a runner thousands of sessions does not storm the gateway
 * with re-joins.
 *
 * Buffers: the client gives each subscription `eventBuffer` events (4096 by default) and fails it
 * with `SlowConsumer` past that; between the client and the follower, a feed holds at most 64
 * chunks (each at most one client buffer). A follower whose feed fails restarts it from its
 * committed offset.
 *
 * @since 0.1.0
 */
import { GatewayClient, type GatewayError } from "@diminuendo/client"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Take from "effect/Take"

/**
 * @since 0.1.0
 * @category models
 */
export interface Feed {
  /** The session's events after `afterSeq` in `seq` order, each once, and gaps. */
  readonly items: Stream.Stream<GatewayClient.SessionItem, GatewayError>
  /** The gateway's `lastSeq` when the session was joined (undefined if it did not say). */
  readonly lastSeqAtJoin: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionFeed {
  /** Subscribes, joins from `afterSeq` and returns the feed; leaves the session when the scope closes. */
  readonly open: (sessionId: string, afterSeq: number) => Effect.Effect<Feed, GatewayError, Scope.Scope>
  /** The runner's shared client. */
  readonly client: GatewayClient.GatewayClient
}

/**
 * @since 0.1.0
 * @category tags
 */
export const SessionFeed = Context.GenericTag<SessionFeed>("@diminuendo/cluster/SessionFeed")

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionFeedOptions {
  /** Joins in flight at once on this runner's connection. @default 32 */
  readonly maxConcurrentJoins?: number
}

const feedChunks = 64

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: SessionFeedOptions = {}
): Effect.Effect<SessionFeed, never, GatewayClient.GatewayClient> =>
  Effect.gen(function* () {
    const client = yield* GatewayClient.GatewayClient
    const joins = yield* Effect.makeSemaphore(Math.max(1, options.maxConcurrentJoins ?? 32))

    const open = (sessionId: string, afterSeq: number) =>
      Effect.gen(function* () {
        const queue = yield* Effect.acquireRelease(
          Queue.bounded<Take.Take<GatewayClient.SessionItem, GatewayError>>(feedChunks),
          Queue.shutdown
        )
        // Subscribed before the join is sent, so nothing the join replays can be missed. (A follower
        // also treats any hole in what it sees as a reason to re-open its feed.)
        yield* client.leaveSession(sessionId)
        const items = yield* client.subscribeSession(sessionId)
        yield* Effect.forkScoped(Stream.runIntoQueue(items, queue))
        yield* Effect.addFinalizer(() => Effect.ignore(client.leaveSession(sessionId)))
        const snapshot = yield* joins.withPermits(1)(client.joinSession(sessionId, afterSeq))
        return {
          items: Stream.flattenTake(Stream.fromQueue(queue)),
          lastSeqAtJoin: snapshot.lastSeq
        }
      })

    return { open, client }
  })

/**
 * The feed over the runner's {@link GatewayClient.GatewayClient} in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SessionFeedOptions = {}): Layer.Layer<SessionFeed, never, GatewayClient.GatewayClient> =>
  Layer.effect(SessionFeed, make(options))

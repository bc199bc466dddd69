/**
 * Discovery of sessions created elsewhere: an entity per tenant (entity id = tenant id) that lists
 * the tenant's sessions on the runner's connection and sends `Follow` for each one it has not sent
 * yet. Whoever creates a session can also send `Follow` itself (`SessionFollower.follow`): both
 * are harmless together, since `Follow` is deduplicated by its primary key.
 *
 * The watcher is kept alive like a follower: a persisted `Watch { tenantId }` request that is
 * never answered while it works, restarted by the shard's next owner. Nothing pings the followers:
 * each `Follow` keeps its own follower alive.
 *
 * The gateway protocol has no event for "a session was created in this tenant", so the watcher
 * polls `list_sessions`. The runner's connection sees only its own tenant: a `Watch` for another
 * tenant fails with `WrongTenant`.
 *
 * The runner's own tenant is the one its connection is signed in as. With a token the client
 * knows it once connected; in dev mode the gateway names it in an `authenticated` that follows
 * the `welcome`, which may arrive after the runner's layers are up: the own tenant's `Watch` is
 * sent once it does (the layer waits up to {@link identityWait} for it, then warns and keeps
 * waiting).
 *
 * @since 0.1.0
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import type * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SessionFeed from "./SessionFeed.js"
import * as SessionFollower from "./SessionFollower.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class WatcherError extends Schema.TaggedError<WatcherError>()("WatcherError", {
  reason: Schema.Literal("WrongTenant"),
  tenantId: Schema.String,
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category rpcs
 */
export const Watch = Rpc.make("Watch", {
  payload: { tenantId: Schema.String },
  primaryKey: ({ tenantId }) => tenantId,
  error: WatcherError
}).annotate(ClusterSchema.Persisted, true)

/**
 * @since 0.1.0
 * @category entities
 */
export const SessionWatcher = Entity.make("SessionWatcher", [Watch])

/**
 * @since 0.1.0
 * @category models
 */
export interface WatcherOptions {
  /** Time between two listings of the tenant's sessions. @default 5 seconds */
  readonly interval?: Duration.DurationInput | undefined
  /** Also follow archived sessions. @default false */
  readonly includeArchived?: boolean | undefined
  /** Send `Watch` for the tenant of the runner's connection when the runner starts. @default true */
  readonly watchOwnTenant?: boolean | undefined
}

/**
 * Sends `Watch` for a tenant (fire and forget; harmless if already sent).
 *
 * @since 0.1.0
 * @category client
 */
export const watch = (tenantId: string) =>
  Effect.flatMap(SessionWatcher.client, (client) => client(tenantId).Watch({ tenantId }, { discard: true }))

/**
 * How long starting the watcher layer waits for the runner's connection to say who it is (its
 * tenant) before it warns; the own tenant's `Watch` is still sent when it does.
 *
 * @since 0.1.0
 * @category constants
 */
export const identityWait: Duration.Duration = Duration.seconds(10)

/** The tenant the client's connection is signed in as: now if known, else once the gateway says. */
const ownTenant = (client: SessionFeed.SessionFeed["client"]) =>
  client.state.changes.pipe(
    Stream.filterMap((state) =>
      state._tag === "Connected" && state.identity !== undefined ? Option.some(state.identity.tenantId) : Option.none()
    ),
    Stream.runHead
  )

/**
 * Registers the watcher entity on this runner (and, by default, starts the watcher of the
 * runner's own tenant).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: WatcherOptions = {}
): Layer.Layer<never, never, Sharding.Sharding | SessionFeed.SessionFeed> => {
  const interval = Duration.decode(options.interval ?? "5 seconds")
  const entity = SessionWatcher.toLayer(
    Effect.gen(function* () {
      const { client } = yield* SessionFeed.SessionFeed
      const followers = yield* SessionFollower.SessionFollower.client
      const sent = new Set<string>()
      const tick = (tenantId: string) =>
        Effect.gen(function* () {
          const identity = yield* client.identity
          if (Option.isSome(identity) && identity.value.tenantId !== tenantId)
            return yield* new WatcherError({
              reason: "WrongTenant",
              tenantId,
              message: `this runner's gateway connection is in tenant ${identity.value.tenantId}, not ${tenantId}`
            })
          const sessions = yield* client.listSessions(options.includeArchived ?? false)
          yield* Effect.forEach(
            sessions.filter((session) => !sent.has(session.id)),
            (session) =>
              Effect.zipRight(
                followers(session.id).Follow({ sessionId: session.id }, { discard: true }),
                Effect.sync(() => sent.add(session.id))
              ),
            { concurrency: 16, discard: true }
          )
        }).pipe(
          Effect.catchIf(
            (error) => error._tag !== "WatcherError",
            (error) =>
              Effect.logWarning("listing or following the tenant's sessions failed; trying again").pipe(
                Effect.annotateLogs({ tenantId, error: error.message })
              )
          )
        )
      return {
        Watch: (request) =>
          Effect.forever(Effect.zipRight(tick(request.payload.tenantId), Effect.sleep(interval))).pipe(
            Effect.tapError((error) => Effect.logError(error.message))
          )
      }
    }),
    { concurrency: "unbounded" }
  )
  if (options.watchOwnTenant === false) return entity
  const own = Layer.scopedDiscard(
    Effect.gen(function* () {
      const { client } = yield* SessionFeed.SessionFeed
      const sending = yield* Effect.forkScoped(
        Effect.flatMap(ownTenant(client), (tenantId) =>
          Option.isSome(tenantId) ? Effect.orDie(watch(tenantId.value)) : Effect.void
        ).pipe(
          Effect.tapDefect((defect) => Effect.logError("sending Watch for the runner's own tenant failed", defect))
        )
      )
      // Up once the Watch is sent (a failure to send it fails the layer); a connection that has not
      // said who it is by then gets a warning, and the Watch goes out when it does.
      const sent = yield* Effect.timeout(Fiber.join(sending), identityWait).pipe(
        Effect.as(true),
        Effect.catchTag("TimeoutException", () => Effect.succeed(false))
      )
      if (!sent)
        yield* Effect.logWarning(
          `the runner's gateway connection has not said who it is (no identity) after ${Duration.format(identityWait)}: its tenant's sessions are not watched until it does`
        )
    })
  )
  return Layer.merge(entity, own)
}

/**
 * Facts about @effect/cluster 0.60.2 this package relies on or works around, checked against the
 * engine itself, and the single-process SQLite setting across restarts.
 */

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { GatewayClient, Transport } from "@diminuendo/client"
import { Gateway, InMemory } from "@diminuendo/testkit"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as ShardId from "@effect/cluster/ShardId"
import * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as FollowerRunner from "../src/FollowerRunner.js"
import * as Housekeeping from "../src/Housekeeping.js"
import * as SessionFollower from "../src/SessionFollower.js"
import {
  caughtUp,
  eventually,
  handledRows,
  handledTable,
  logSeqs,
  quiet,
  record,
  runnerFeed,
  runTurn,
  testClient,
  testTimings
} from "./fixtures.js"

/** An entity that keeps itself alive with the engine's `Entity.keepAlive`, counting its starts. */
const Ping = Rpc.make("Ping").annotate(ClusterSchema.Persisted, true)
const KeptAlive = Entity.make("KeptAlive", [Ping])
const keptAlive = (starts: { count: number }) =>
  KeptAlive.toLayer(
    Effect.gen(function* () {
      starts.count += 1
      yield* Entity.keepAlive(true)
      return { Ping: () => Effect.void }
    })
  )

const keepAliveTag = "Cluster/Entity/keepAlive"

const tempFile = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "diminuendo-cluster-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "cluster.db")))

/** A runner on the SQLite file, with the follower, the keep-alive entity and the runner's connection. */
const sqliteRunner = (
  filename: string,
  gateway: Gateway.Gateway,
  starts: { count: number },
  shardingConfig: FollowerRunner.CommonOptions["shardingConfig"] = {}
) =>
  Layer.mergeAll(SessionFollower.layer({ handle: record("runner") }), keptAlive(starts)).pipe(
    Layer.provideMerge(Layer.mergeAll(runnerFeed(), handledTable, testClient)),
    Layer.provideMerge(
      FollowerRunner.layerSqlite({
        filename,
        shardingConfig: { ...testTimings, entityMessagePollInterval: "200 millis", ...shardingConfig }
      })
    ),
    Layer.provideMerge(Layer.succeed(Transport.Transport, { open: () => InMemory.connect(gateway) })),
    Layer.provideMerge(Layer.succeed(Gateway.Gateway, gateway)),
    Layer.provide(quiet)
  )

/** Builds `layer` in a scope of its own, runs `use`, then closes it (a graceful stop). */
const withRunner = <A, E, ROut, E2>(layer: Layer.Layer<ROut, E2>, use: Effect.Effect<A, E, ROut | Scope.Scope>) =>
  Effect.scoped(Effect.flatMap(Layer.build(layer), (context) => Effect.provide(use, context)))

const allShards = (count = 300) => Array.from({ length: count }, (_, i) => ShardId.make("default", i + 1))

const messagesOf = (entityType: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.orDie(
      sql<{
        tag: string
        processed: number
      }>`SELECT tag, processed FROM cluster_messages WHERE entity_type = ${entityType}`
    )
  )

describe("@effect/cluster 0.60.2, as this package uses it", () => {
  it.live(
    "Entity.keepAlive: a second read of its persisted message answers it; a Follow request read again stays in flight",
    () => {
      const starts = { count: 0 }
      return Effect.gen(function* () {
        const driver = yield* MessageStorage.MemoryDriver
        const sharding = yield* Sharding.Sharding
        const client = yield* GatewayClient.GatewayClient
        const session = yield* client.createSession("echo")
        yield* Effect.flatMap(KeptAlive.client, (kept) => kept("a").Ping())
        yield* SessionFollower.follow(session.id)
        const byTag = (tag: string) => [...driver.requests.values()].filter((entry) => entry.envelope.tag === tag)
        yield* eventually(
          "the keep-alive request is stored",
          Effect.sync(() => byTag(keepAliveTag).length === 1)
        )
        // The memory storage hands back every unanswered message on each read, as SQL storage does
        // after a shard reset or once a message is ten minutes old.
        yield* sharding.pollStorage
        yield* eventually(
          "the keep-alive request is answered",
          Effect.sync(() => byTag(keepAliveTag)[0]!.replies.some((reply) => reply._tag === "WithExit"))
        )
        yield* sharding.pollStorage
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(
          byTag("Follow").map((entry) => entry.replies.length),
          [0]
        )
        assert.strictEqual(starts.count, 1)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(SessionFollower.layer({ handle: record("owner") }), keptAlive(starts)).pipe(
            Layer.provideMerge(Layer.mergeAll(runnerFeed(), handledTable, testClient)),
            Layer.provideMerge(FollowerRunner.layerTest({ shardingConfig: testTimings })),
            Layer.provideMerge(InMemory.layer()),
            Layer.provide(quiet),
            Layer.orDie
          )
        ),
        Effect.scoped
      )
    }
  )

  it.live(
    "SQLite, one process: after a shard reset and a restart, the keep-alive entity is never started again; the Follow is, from its offset",
    () =>
      Effect.gen(function* () {
        const filename = yield* tempFile
        const gateway = yield* Gateway.make()
        const first = { count: 0 }
        let sessionId = ""
        yield* withRunner(
          sqliteRunner(filename, gateway, first),
          Effect.gen(function* () {
            const client = yield* GatewayClient.GatewayClient
            const session = yield* client.createSession("echo")
            sessionId = session.id
            yield* Effect.flatMap(KeptAlive.client, (kept) => kept("a").Ping())
            yield* SessionFollower.follow(session.id)
            yield* runTurn(session.id, "before the restart")
            yield* caughtUp(session.id)
            // What the engine does on PostgreSQL at every shard acquisition (see FollowerRunner),
            // and on any database for messages older than ten minutes.
            const storage = yield* MessageStorage.MessageStorage
            yield* Effect.orDie(storage.resetShards(allShards()))
            yield* (yield* Sharding.Sharding).pollStorage
            yield* eventually(
              "the keep-alive request is answered",
              Effect.map(messagesOf("KeptAlive"), (rows) =>
                rows.some((row) => row.tag === keepAliveTag && Number(row.processed) === 1)
              )
            )
            assert.deepStrictEqual(
              (yield* messagesOf("SessionFollower")).map((row) => [row.tag, Number(row.processed)]),
              [["Follow", 0]]
            )
          })
        )
        assert.strictEqual(first.count, 1)
        const second = { count: 0 }
        yield* withRunner(
          sqliteRunner(filename, gateway, second),
          Effect.gen(function* () {
            yield* eventually(
              "the Follow runs again",
              Effect.map(SessionFollower.status(sessionId), (status) => status.following)
            )
            yield* runTurn(sessionId, "after the restart")
            yield* caughtUp(sessionId)
            const rows = yield* handledRows(sessionId)
            assert.deepStrictEqual(
              rows.map((row) => row.seq),
              yield* logSeqs(sessionId)
            )
            yield* Effect.sleep("300 millis")
          })
        )
        assert.strictEqual(second.count, 0, "nothing restarts the keep-alive entity")
      }).pipe(Effect.scoped)
  )

  it.live("shardsPerGroup is recorded on the first start; a runner with another value fails with SetupError", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const gateway = yield* Gateway.make()
      const starts = { count: 0 }
      yield* withRunner(sqliteRunner(filename, gateway, starts, { shardsPerGroup: 30 }), Effect.void)
      const exit = yield* Effect.exit(
        withRunner(sqliteRunner(filename, gateway, starts, { shardsPerGroup: 60 }), Effect.void)
      )
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(failure) && failure.value instanceof FollowerRunner.SetupError)
      assert.include(Option.isSome(failure) ? (failure.value as Error).message : "", "shardsPerGroup = 30")
      yield* withRunner(sqliteRunner(filename, gateway, starts, { shardsPerGroup: 30 }), Effect.void)
    }).pipe(Effect.scoped)
  )

  it.live("prune deletes answered requests older than the cutoff and keeps the ones in flight", () =>
    Effect.gen(function* () {
      const filename = yield* tempFile
      const gateway = yield* Gateway.make()
      yield* withRunner(
        sqliteRunner(filename, gateway, { count: 0 }),
        Effect.gen(function* () {
          const client = yield* GatewayClient.GatewayClient
          const followed = yield* client.createSession("echo")
          const stopped = yield* client.createSession("echo")
          yield* SessionFollower.follow(followed.id)
          yield* SessionFollower.follow(stopped.id)
          yield* eventually(
            "both follow",
            Effect.map(Effect.all([SessionFollower.status(followed.id), SessionFollower.status(stopped.id)]), (all) =>
              all.every((status) => status.following)
            )
          )
          yield* SessionFollower.stop(stopped.id)
          const followers = yield* SessionFollower.SessionFollower.client
          assert.strictEqual((yield* followers(stopped.id).Follow({ sessionId: stopped.id })).outcome, "stopped")
          yield* Effect.sleep("10 millis")
          const kept = yield* Effect.orDie(Housekeeping.prune({ olderThan: "1 hour" }))
          assert.strictEqual(kept, 0)
          const deleted = yield* Effect.orDie(Housekeeping.prune({ olderThan: 0 }))
          assert.strictEqual(deleted, 1)
          const sql = yield* SqlClient.SqlClient
          const left = yield* sql<{ entity_id: string }>`SELECT entity_id FROM cluster_messages`
          assert.deepStrictEqual(
            left.map((row) => row.entity_id),
            [followed.id]
          )
          // Forgotten: a new Follow for the stopped session ends at once, from its offset row.
          assert.strictEqual((yield* followers(stopped.id).Follow({ sessionId: stopped.id })).outcome, "stopped")
        })
      )
    }).pipe(Effect.scoped)
  )
})

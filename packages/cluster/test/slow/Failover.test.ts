/**
 * Failover with real processes and a real database (`pnpm test:cluster`, run by `.ci/run`, not
 * by `pnpm test`): the testkit gateway over ws in this process, runner processes following its
 * sessions while turns stream, a runner killed with SIGKILL mid-stream. Every session's events
 * must be handled exactly once by seq, none missing, against the gateway's own log; the pause
 * after the kill is measured and printed. The scenarios are in ./harness.ts (the benchmark runs
 * them too). Also: the engine's shard-lock behaviour on PostgreSQL that FollowerRunner works around.
 */

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardId from "@effect/cluster/ShardId"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as FollowerRunner from "../../src/FollowerRunner.js"
import { type FailoverResult, pgDatabase, pgFailover, sqliteDatabase, sqliteRestart, usePostgres } from "./harness.js"
import type * as Postgres from "./postgres.js"

const assertExactlyOnce = (label: string, result: FailoverResult) =>
  Effect.sync(() => {
    console.log(
      `[${label}] ${JSON.stringify({ events: result.verdict.events, byRunner: result.byRunner, reachedMs: result.reachedMs, ...result.pause })}`
    )
    assert.deepStrictEqual(result.verdict.missing, [], "missing events")
    assert.deepStrictEqual(result.verdict.duplicated, [], "events handled twice")
    assert.deepStrictEqual(result.verdict.unexpected, [], "events not in the gateway's log")
    assert.isAbove(result.pause.orphaned, 0, "the killed runner was following sessions")
    assert.isTrue(Number.isFinite(result.pause.maxMs), "every orphaned session resumed")
    assert.strictEqual(result.afterKillByVictim, 0, "nothing handled by the killed runner after the kill")
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "diminuendo-sqlite-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

class Server extends Context.Tag("test/Postgres")<Server, Postgres.Postgres>() {}

/** The engine's runner storage (or FollowerRunner's), on its own connection to `url`. */
const lockStorage = (url: string, storage: Layer.Layer<RunnerStorage.RunnerStorage, unknown, any>) =>
  Effect.orDie(
    Layer.build(
      storage.pipe(
        Layer.provide(ShardingConfig.layer()),
        Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 }))
      )
    )
  ).pipe(Effect.map((context) => Context.get(context, RunnerStorage.RunnerStorage)))

const shard = (id: number) => ShardId.make("default", id)
const names = (shards: ReadonlyArray<ShardId.ShardId>) => shards.map(String).sort()

describe("failover (real processes, real database)", () => {
  layer(Layer.scoped(Server, usePostgres), { timeout: 120_000, excludeTestServices: true })((it) => {
    it.scoped(
      "PostgreSQL, three runner processes, one killed with SIGKILL mid-stream: every event handled exactly once, none missing",
      () =>
        Effect.gen(function* () {
          const database = yield* pgDatabase(yield* Server, "failover")
          const result = yield* pgFailover(database, { sessions: 24, events: 150 })
          yield* assertExactlyOnce("pg failover", result)
          // Each of the three ran some of the sessions (a runner with none would make this a smaller test).
          for (const [runner, handled] of Object.entries(result.byRunner)) {
            assert.isAbove(handled, 0, `${runner} handled no event`)
          }
        }),
      300_000
    )

    it.scoped(
      "@effect/cluster 0.60.2 on PostgreSQL: acquiring shards answers every lock already held; FollowerRunner's storage answers the shards asked for",
      () =>
        Effect.gen(function* () {
          const { pg } = yield* pgDatabase(yield* Server, "locks")
          const address = RunnerAddress.make("127.0.0.1", 1)
          const engine = yield* lockStorage(pg, SqlRunnerStorage.layer)
          assert.deepStrictEqual(names(yield* Effect.orDie(engine.acquire(address, [shard(1)]))), ["default:1"])
          assert.deepStrictEqual(names(yield* Effect.orDie(engine.acquire(address, [shard(2)]))), [
            "default:1",
            "default:2"
          ])
          const ours = yield* lockStorage(pg, FollowerRunner.runnerStorageOnlyAsked)
          const other = RunnerAddress.make("127.0.0.1", 2)
          assert.deepStrictEqual(names(yield* Effect.orDie(ours.acquire(other, [shard(3)]))), ["default:3"])
          assert.deepStrictEqual(names(yield* Effect.orDie(ours.acquire(other, [shard(4)]))), ["default:4"])
        })
    )

    it.scoped(
      "@effect/cluster 0.60.2 on PostgreSQL: advisory lock keys ignore the table prefix, so two clusters in one database contend",
      () =>
        Effect.gen(function* () {
          const { pg } = yield* pgDatabase(yield* Server, "prefixes")
          const a = yield* lockStorage(pg, SqlRunnerStorage.layerWith({ prefix: "a" }))
          const b = yield* lockStorage(pg, SqlRunnerStorage.layerWith({ prefix: "b" }))
          assert.deepStrictEqual(
            names(yield* Effect.orDie(a.acquire(RunnerAddress.make("127.0.0.1", 1), [shard(7)]))),
            ["default:7"]
          )
          assert.deepStrictEqual(
            names(yield* Effect.orDie(b.acquire(RunnerAddress.make("127.0.0.1", 2), [shard(7)]))),
            []
          )
        })
    )
  })

  it.live(
    "SQLite, one process killed with SIGKILL mid-stream and restarted: every event handled exactly once, none missing",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const result = yield* sqliteRestart(sqliteDatabase(dir, "restart"), { sessions: 10, events: 100 })
        yield* assertExactlyOnce("sqlite restart", result)
        assert.strictEqual(result.pause.orphaned, 10, "every session was the killed process's")
      }).pipe(Effect.scoped),
    300_000
  )
})

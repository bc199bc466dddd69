/**
 * Failover with real processes and a real database (`pnpm test:cluster`, run by `.ci/run`, not
 * by `pnpm test`): the testkit gateway over ws in this process, runner processes following its
 * sessions while turns stream, one runner killed with SIGKILL mid-stream. Every session's events
 * must be handled exactly once by seq, none missing, against the gateway's own log; the pause
 * after the kill is measured and printed.
 */

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Gateway, WsServer } from "@diminuendo/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as FollowerRunner from "../../src/FollowerRunner.js"
import * as SessionFollower from "../../src/SessionFollower.js"
import {
  type HandledRow,
  pauseAfterKill,
  type Runner,
  spawnRunner,
  stopRunner,
  streamAgent,
  verify
} from "./harness.js"
import * as Postgres from "./postgres.js"
import { fastTimings, handledTableSql, type RunnerConfig } from "./runner.js"

const gatewayOptions: Gateway.GatewayOptions = {
  agents: { stream: streamAgent },
  agentStepMs: 100,
  retention: 100_000,
  heartbeatIntervalMs: 0
}

const runner = (config: RunnerConfig) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnRunner(config)),
    (r) => Effect.promise(() => stopRunner(r))
  )

const ready = (r: Runner) =>
  Effect.promise(() =>
    Promise.race([
      r.ready,
      new Promise<void>((_, reject) =>
        setTimeout(() => reject(new Error(`runner ${r.name} not ready in 90 s:\n${r.log()}`)), 90_000)
      )
    ])
  )

/** Polls until `check` holds; fails with `describe()` after `seconds`. */
const waitFor = <E, R>(
  label: string,
  check: Effect.Effect<boolean, E, R>,
  seconds: number,
  describe: () => string = () => ""
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + seconds * 1000
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${label}\n${describe()}`))
      yield* Effect.sleep("200 millis")
    }
  })

const gatewayLogs = (gateway: Gateway.Gateway, sessionIds: ReadonlyArray<string>) =>
  Effect.map(
    Effect.forEach(sessionIds, (id) => Effect.map(gateway.sessionLog(id), (log) => [id, log] as const)),
    (entries) => new Map(entries)
  )

/** Every session's turn has ended (its log ends with the status back to ready) and its events are handled. */
const allDone = (gateway: Gateway.Gateway, sessionIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const logs = yield* gatewayLogs(gateway, sessionIds)
    const rows = yield* sql<{ session_id: string; top: number | string }>`
      SELECT session_id, MAX(seq) AS top FROM handled GROUP BY session_id`
    const top = new Map(rows.map((row) => [row.session_id, Number(row.top)]))
    return [...logs].every(([id, log]) => {
      const last = log[log.length - 1]
      return (
        last !== undefined &&
        last.type === "session_state" &&
        log.some((event) => event.type === "turn_complete") &&
        top.get(id) === last.seq
      )
    })
  })

const report = (label: string, values: Record<string, unknown>) =>
  Effect.sync(() => console.log(`[${label}] ${JSON.stringify(values)}`))

const openClient = (url: string) =>
  GatewayClient.make({ url, pingInterval: 0 }).pipe(Effect.provide(NodeTransport.layer))

const createSessions = (client: GatewayClient.GatewayClient, count: number) =>
  Effect.forEach(Array.from({ length: count }), () => client.createSession("stream"))

const startTurns = (client: GatewayClient.GatewayClient, sessionIds: ReadonlyArray<string>, events: number) =>
  Effect.forEach(sessionIds, (id) => client.runTurn(id, `stream ${events}`), { concurrency: 8, discard: true })

const usePostgres = Effect.acquireRelease(
  Effect.promise(() => Postgres.start()),
  (pg) => Effect.sync(() => pg.stop())
)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "diminuendo-sqlite-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const buildIn = <ROut, E>(layer: Layer.Layer<ROut, E>): Effect.Effect<Layer.Layer<ROut>, E, Scope.Scope> =>
  Effect.map(Layer.build(layer), Layer.succeedContext)

describe("failover (real processes, real database)", () => {
  it.live(
    "PostgreSQL, three runner processes, one killed with SIGKILL mid-stream: every event handled exactly once, none missing",
    () =>
      Effect.gen(function* () {
        const pg = yield* usePostgres
        pg.createDatabase("failover")
        const url = pg.url("failover")
        const gateway = yield* Gateway.make(gatewayOptions)
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        // The sending side: a client-only member of the cluster, as a service that creates sessions.
        const creator = yield* buildIn(
          FollowerRunner.layerPgClient({ database: { url: Redacted.make(url) }, shardingConfig: fastTimings })
        )
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(handledTableSql)).pipe(Effect.provide(creator))
        const ports = yield* Effect.promise(() => Promise.all([1, 2, 3].map(() => Postgres.freePort())))
        const configs = ports.map(
          (port, i): RunnerConfig => ({
            name: `runner-${i + 1}`,
            database: { pg: url },
            port,
            gatewayUrl: server.url,
            shardingConfig: fastTimings
          })
        )
        // One first, so that the tables are created once.
        const first = yield* runner(configs[0]!)
        yield* ready(first)
        const others = yield* Effect.forEach(configs.slice(1), runner)
        yield* Effect.forEach(others, ready, { discard: true })
        const runners = [first, ...others]
        const logsOf = () => runners.map((r) => `--- ${r.name}\n${r.log().slice(-3000)}`).join("\n")

        yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* waitFor(
            "the 300 shards locked, spread over the 3 runners",
            Effect.map(
              sql<{ locks: number | string; pids: number | string }>`
                SELECT COUNT(*) AS locks, COUNT(DISTINCT pid) AS pids FROM pg_locks
                WHERE locktype = 'advisory' AND granted`,
              (rows) => Number(rows[0]?.locks) === 300 && Number(rows[0]?.pids) === 3
            ),
            60,
            logsOf
          )
          const client = yield* openClient(server.url)
          const sessions = (yield* createSessions(client, 24)).map((s) => s.id)
          // Half are followed because their creator says so, half are found by the tenant's watcher.
          yield* Effect.forEach(
            sessions.filter((_, i) => i % 2 === 0),
            SessionFollower.follow,
            { discard: true }
          )
          yield* startTurns(client, sessions, 150)
          yield* waitFor(
            "every session being handled",
            Effect.map(
              sql<{ sessions: number | string }>`SELECT COUNT(DISTINCT session_id) AS sessions FROM handled`,
              (rows) => Number(rows[0]?.sessions) === sessions.length
            ),
            60,
            logsOf
          )
          yield* Effect.sleep("2 seconds")
          const victim = runners[1]!
          const killedAt = Date.now()
          victim.process.kill("SIGKILL")
          yield* Effect.promise(() => victim.exited)
          yield* waitFor("every turn complete and handled", allDone(gateway, sessions), 180, logsOf)
          const rows = yield* sql<HandledRow>`SELECT session_id, seq, runner, handled_at FROM handled`
          const logs = yield* gatewayLogs(gateway, sessions)
          const verdict = verify(new Map([...logs].map(([id, log]) => [id, log.map((e) => e.seq)])), rows)
          const pause = pauseAfterKill(rows, victim.name, killedAt)
          yield* report("pg failover", {
            sessions: sessions.length,
            events: verdict.events,
            byRunner: Object.fromEntries(runners.map((r) => [r.name, rows.filter((x) => x.runner === r.name).length])),
            ...pause
          })
          assert.deepStrictEqual(verdict.missing, [], "missing events")
          assert.deepStrictEqual(verdict.duplicated, [], "events handled twice")
          assert.deepStrictEqual(verdict.unexpected, [], "events not in the gateway's log")
          assert.isAbove(pause.orphaned, 0, "the killed runner was following sessions")
          assert.isTrue(Number.isFinite(pause.maxMs), "every orphaned session resumed elsewhere")
          assert.isFalse(
            rows.some((row) => row.runner === victim.name && Number(row.handled_at) > killedAt),
            "nothing handled by the killed runner after the kill"
          )
        }).pipe(Effect.provide(creator))
      }).pipe(Effect.scoped),
    300_000
  )

  it.live(
    "SQLite, one process killed with SIGKILL mid-stream and restarted: every event handled exactly once, none missing",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const filename = path.join(dir, "cluster.db")
        const gateway = yield* Gateway.make(gatewayOptions)
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        const port = yield* Effect.promise(() => Postgres.freePort())
        const config = (name: string): RunnerConfig => ({
          name,
          database: { sqlite: filename },
          port,
          gatewayUrl: server.url,
          shardingConfig: fastTimings
        })
        const before = yield* runner(config("sqlite-1"))
        yield* ready(before)
        const client = yield* openClient(server.url)
        // No Follow is sent: the tenant's watcher finds every session.
        const sessions = (yield* createSessions(client, 10)).map((s) => s.id)
        yield* startTurns(client, sessions, 100)
        const reader = yield* buildIn(SqliteClient.layer({ filename }))
        yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* waitFor(
            "every session being handled",
            Effect.map(
              sql<{ sessions: number }>`SELECT COUNT(DISTINCT session_id) AS sessions FROM handled`,
              (rows) => Number(rows[0]?.sessions) === sessions.length
            ),
            60,
            before.log
          )
          yield* Effect.sleep("2 seconds")
          const killedAt = Date.now()
          before.process.kill("SIGKILL")
          yield* Effect.promise(() => before.exited)
          const after = yield* runner(config("sqlite-2"))
          yield* ready(after)
          yield* waitFor("every turn complete and handled", allDone(gateway, sessions), 180, after.log)
          const rows = yield* sql<HandledRow>`SELECT session_id, seq, runner, handled_at FROM handled`
          const logs = yield* gatewayLogs(gateway, sessions)
          const verdict = verify(new Map([...logs].map(([id, log]) => [id, log.map((e) => e.seq)])), rows)
          const pause = pauseAfterKill(rows, "sqlite-1", killedAt)
          yield* report("sqlite restart", { sessions: sessions.length, events: verdict.events, ...pause })
          assert.deepStrictEqual(verdict.missing, [], "missing events")
          assert.deepStrictEqual(verdict.duplicated, [], "events handled twice")
          assert.deepStrictEqual(verdict.unexpected, [], "events not in the gateway's log")
          assert.strictEqual(pause.orphaned, sessions.length)
          assert.isTrue(Number.isFinite(pause.maxMs), "every session resumed after the restart")
        }).pipe(Effect.provide(reader))
      }).pipe(Effect.scoped),
    300_000
  )
})

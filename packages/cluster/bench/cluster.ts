/**
 * The cluster section of `pnpm bench` (bench/run.ts runs this file in its own process and copies
 * what it prints): events handled per second end to end (testkit gateway over ws in this process
 * -> one runner process -> handler row and offset commit in SQL) at 100 and 1,000 followed
 * sessions, one commit per event against batches of up to 100; and the pause after a runner is
 * killed, on PostgreSQL with three runners. `--quick`: SQLite only, small counts, no failover.
 * Alone: `cd packages/cluster && node --import tsx bench/cluster.ts [--quick]`.
 */

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import {
  type Database,
  type FailoverResult,
  pgDatabase,
  pgFailover,
  sqliteDatabase,
  type ThroughputResult,
  throughput,
  usePostgres
} from "../test/slow/harness.js"
import * as Postgres from "../test/slow/postgres.js"

const quick = process.argv.includes("--quick")

interface Row extends ThroughputResult {
  readonly database: string
  readonly sessions: number
  readonly batchSize: number
}

const fmt = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0))
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const program = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "diminuendo-bench-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const hasPostgres = !quick && Postgres.binDir() !== undefined
  const pg = hasPostgres ? yield* usePostgres : undefined
  let databases = 0
  const fresh = (kind: "sqlite" | "pg"): Effect.Effect<Database> => {
    databases += 1
    return kind === "pg" && pg !== undefined
      ? pgDatabase(pg, `bench_${databases}`)
      : Effect.succeed(sqliteDatabase(dir, `bench_${databases}`))
  }

  // CLUSTER_BENCH_ONLY=sqlite:100:1 (database:sessions:batch) or failover: one measurement alone.
  const only = process.env.CLUSTER_BENCH_ONLY
  const rows: Array<Row> = []
  const kinds: ReadonlyArray<"sqlite" | "pg"> = pg === undefined ? ["sqlite"] : ["sqlite", "pg"]
  const shapes = quick
    ? [{ sessions: 20, events: 10 }]
    : [
        { sessions: 100, events: 300 },
        { sessions: 1_000, events: 30 }
      ]
  for (const kind of kinds) {
    for (const shape of shapes) {
      for (const batchSize of [1, 100]) {
        if (only !== undefined && only !== `${kind}:${shape.sessions}:${batchSize}`) continue
        const database = yield* fresh(kind)
        const result = yield* Effect.scoped(throughput(database, { ...shape, batchSize }))
        console.error(`cluster bench: ${kind} ${shape.sessions} sessions batch ${batchSize}: ${JSON.stringify(result)}`)
        rows.push({ ...result, database: kind === "pg" ? "PostgreSQL" : "SQLite", sessions: shape.sessions, batchSize })
      }
    }
  }

  const failovers: Array<FailoverResult> = []
  if (pg !== undefined && (only === undefined || only === "failover")) {
    for (let round = 0; round < 3; round++) {
      const database = yield* pgDatabase(pg, `failover_${round}`)
      const result = yield* Effect.scoped(pgFailover(database, { sessions: 24, events: 150 }))
      console.error(`cluster bench: failover round ${round + 1}: ${JSON.stringify(result.pause)}`)
      failovers.push(result)
    }
  }

  const out = (line = "") => console.log(line)
  out("## 6. Cluster: followers on @effect/cluster")
  out()
  out(
    "End to end: the testkit gateway over ws in the benchmark process, one follower runner process (`SessionFollower`, found by the tenant's watcher), and per event a handler that inserts a row in the offset's transaction. Every session first runs a one-event turn (startup: from the first session created to every follower live); then every session runs a turn of N events at once, played as fast as the gateway can, measured from the first `run_turn` to the last event committed. Batch: events per offset commit (one transaction), 1 or up to 100 that have already arrived. Runner CPU: its user+system seconds per 1,000 events during the measured turn."
  )
  out()
  out("| database | sessions | events | batch | events/s | runner CPU s / 1k events | startup (s) |")
  out("|---|---:|---:|---:|---:|---:|---:|")
  for (const row of rows) {
    out(
      `| ${row.database} | ${row.sessions} | ${row.events} | ${row.batchSize} | ${fmt(row.events / row.seconds)} | ${((row.runnerCpuSeconds / row.events) * 1000).toFixed(2)} | ${row.startupSeconds.toFixed(1)} |`
    )
  }
  out()
  if (failovers.length > 0) {
    const pauses = failovers.map((f) => f.pause)
    const lost = failovers.reduce((n, f) => n + f.verdict.missing.length + f.verdict.duplicated.length, 0)
    out(
      `Failover, PostgreSQL (a server started by the benchmark, \`fsync=off\`), three runner processes, 24 sessions streaming a 150-event turn (one event per 100 ms), one runner killed with SIGKILL mid-stream, the engine's timings shortened as in the tests (lock refresh 1 s, lock expiry 4 s, health check 1 s, assignments 0.5 s, message poll 0.5 s); pause = from the kill to the first event handled by another runner, per session the killed runner was following. ${failovers.length} rounds: median pause ${median(pauses.map((p) => p.medianMs)).toFixed(0)} ms (per round: ${pauses.map((p) => `${p.orphaned} sessions, ${p.firstMs.toFixed(0)} to ${p.maxMs.toFixed(0)} ms`).join("; ")}); events missing or handled twice: ${lost}.`
    )
    out()
    if (lost > 0) process.exitCode = 1
  } else {
    out(
      quick
        ? "Failover: not run in --quick mode (`pnpm test:cluster` checks it)."
        : "Failover: skipped, PostgreSQL is not installed."
    )
    out()
  }
})

// Logs go to stderr: stdout is the section's text.
Effect.runPromise(
  Effect.scoped(program).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
  )
).catch((error) => {
  console.error(error)
  process.exit(1)
})

/**
 * Scenarios with real processes, shared by the failover tests (`pnpm test:cluster`) and the
 * benchmark (`pnpm bench`, section cluster): the testkit gateway over ws in this process with a
 * streaming agent, follower runner processes (./runner.ts), and the check of what they handled
 * against the gateway's own log.
 */

import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { type Agent, Gateway, WsServer } from "@diminuendo/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as FollowerRunner from "../../src/FollowerRunner.js"
import * as SessionFollower from "../../src/SessionFollower.js"
import * as Postgres from "./postgres.js"
import { fastTimings, handledTableSql, type RunnerConfig } from "./runner.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const packageDir = path.resolve(here, "..", "..")

// ---------------------------------------------------------------------------------------------
// Runner processes
// ---------------------------------------------------------------------------------------------

export interface Runner {
  readonly name: string
  readonly process: ChildProcess
  readonly exited: Promise<string>
  /** The last lines it wrote to stderr (for failure messages). */
  readonly log: () => string
  /** CPU seconds used so far (Linux /proc). */
  readonly cpuSeconds: () => number
}

const clockTicks = 100

/** Spawns a runner; the scope stops it (SIGTERM, then SIGKILL after 15 s). Returns once it is ready. */
export const runner = (config: RunnerConfig): Effect.Effect<Runner, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Runner>((resume) => {
      const child = spawn(
        process.execPath,
        ["--conditions=diminuendo-source", "--import", "tsx", "test/slow/runner.ts"],
        {
          cwd: packageDir,
          env: { ...process.env, RUNNER_CONFIG: JSON.stringify(config) },
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
      let stderr = ""
      let stdout = ""
      child.stderr!.on("data", (chunk) => {
        stderr = (stderr + chunk).slice(-20_000)
      })
      const exited = new Promise<string>((resolve) =>
        child.once("exit", (code, signal) => resolve(signal ?? `exit ${code}`))
      )
      const self: Runner = {
        name: config.name,
        process: child,
        exited,
        log: () => stderr,
        cpuSeconds: () => {
          try {
            const fields = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
            return (Number(fields[11]) + Number(fields[12])) / clockTicks
          } catch {
            return Number.NaN
          }
        }
      }
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
      }, 90_000)
      child.stdout!.on("data", (chunk) => {
        stdout += chunk
        if (stdout.includes("ready")) {
          clearTimeout(timer)
          resume(Effect.succeed(self))
        }
      })
      void exited.then((how) => {
        clearTimeout(timer)
        resume(Effect.dieMessage(`runner ${config.name} exited (${how}) before it was ready:\n${stderr}`))
      })
    }),
    (r) =>
      Effect.promise(async () => {
        if (r.process.exitCode !== null || r.process.signalCode !== null) return
        r.process.kill("SIGTERM")
        const timer = setTimeout(() => r.process.kill("SIGKILL"), 15_000)
        await r.exited
        clearTimeout(timer)
      })
  )

/**
 * The end of a runner's stderr, for failure messages. Runners log warnings and errors only, so an
 * empty log is said in words (a runner that hangs without a word is itself a finding).
 */
export const logTail = (r: Runner, chars = 4000) => {
  const log = r.log()
  const state = r.process.exitCode !== null || r.process.signalCode !== null ? "exited" : "running"
  return `--- ${r.name} (${state}), stderr${log.length > chars ? `, last ${chars} characters` : ""}:\n${
    log === "" ? "(empty: the runner logs warnings and errors only, and wrote none)" : log.slice(-chars)
  }`
}

/** Kills a runner with SIGKILL; returns the time of the kill. */
export const kill = (r: Runner) =>
  Effect.gen(function* () {
    const at = Date.now()
    r.process.kill("SIGKILL")
    yield* Effect.promise(() => r.exited)
    return at
  })

// ---------------------------------------------------------------------------------------------
// Gateway, clients, databases
// ---------------------------------------------------------------------------------------------

/** Emits `text_delta`s one gateway step apart; the prompt says how many (`"stream 300"`). */
export const streamAgent: Agent.Agent = (turn) =>
  Effect.forEach(
    Array.from({ length: Number(turn.prompt.split(" ")[1] ?? 10) }, (_, i) => i),
    (i) => Effect.zipRight(turn.step, turn.emit({ type: "text_delta", text: `${i} ` })),
    { discard: true }
  )

export const serveGateway = (stepMs: number) =>
  Effect.gen(function* () {
    const gateway = yield* Gateway.make({
      agents: { stream: streamAgent },
      agentStepMs: stepMs,
      retention: 1_000_000,
      heartbeatIntervalMs: 0
    })
    const server = yield* Effect.orDie(WsServer.serve(gateway))
    return { gateway, url: server.url }
  })

export const openClient = (url: string) =>
  GatewayClient.make({ url, pingInterval: 0 }).pipe(Effect.provide(NodeTransport.layer), Effect.orDie)

export const createSessions = (client: GatewayClient.GatewayClient, count: number) =>
  Effect.map(
    Effect.forEach(Array.from({ length: count }), () => Effect.orDie(client.createSession("stream")), {
      concurrency: 16
    }),
    (sessions) => sessions.map((s) => s.id)
  )

export const startTurns = (client: GatewayClient.GatewayClient, sessionIds: ReadonlyArray<string>, events: number) =>
  Effect.forEach(sessionIds, (id) => Effect.orDie(client.runTurn(id, `stream ${events}`)), {
    concurrency: 32,
    discard: true
  })

export type Database = RunnerConfig["database"]

/** A new database on the PostgreSQL server (one per cluster: the engine's advisory lock keys ignore table prefixes). */
export const pgDatabase = (pg: Postgres.Postgres, name: string) =>
  Effect.sync(() => {
    pg.createDatabase(name)
    return { pg: pg.url(name) }
  })

/** A new SQLite file in `dir`. */
export const sqliteDatabase = (dir: string, name: string) => ({ sqlite: path.join(dir, `${name}.db`) })

/** The test's own view of the database, with the `handled` table created. */
export const reader = (database: Database): Effect.Effect<Layer.Layer<SqlClient.SqlClient>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const layer: Layer.Layer<SqlClient.SqlClient, unknown> =
      "pg" in database
        ? PgClient.layer({ url: Redacted.make(database.pg), maxConnections: 4 })
        : SqliteClient.layer({ filename: database.sqlite })
    const context = yield* Effect.orDie(Layer.build(layer))
    yield* Effect.orDie(
      Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(handledTableSql)),
        context
      )
    )
    return Layer.succeedContext(context)
  })

export const usePostgres = Effect.acquireRelease(
  Effect.promise(() => Postgres.start()),
  (pg) => Effect.sync(() => pg.stop())
)

/** Polls until `check` holds; dies with `context()` after `seconds`. */
export const waitFor = <E, R>(
  label: string,
  check: Effect.Effect<boolean, E, R>,
  seconds: number,
  context = () => ""
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + seconds * 1000
    while (!(yield* Effect.orDie(check))) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${label}\n${context()}`)
      yield* Effect.sleep("200 millis")
    }
  })

/** What a wait sees on one poll: whether it is over, and how far things got (for the failure message). */
export interface Seen {
  readonly done: boolean
  readonly progress: string
}

/**
 * Polls `check` until it is done, for as long as things move: dies when its `progress` has not
 * changed for `stallSeconds` (a hang: no event handled, no session reached) or after `maxSeconds`
 * in all, with the last progress seen and `context()`. A loaded machine gets the time it needs
 * while it makes progress; a runner that does nothing fails after `stallSeconds`, not later.
 */
export const waitUntil = <E, R>(
  label: string,
  check: Effect.Effect<Seen, E, R>,
  bounds: { readonly stallSeconds: number; readonly maxSeconds: number },
  context = () => ""
) =>
  Effect.gen(function* () {
    const started = Date.now()
    let last = ""
    let movedAt = started
    for (;;) {
      const seen = yield* Effect.orDie(check)
      if (seen.done) return
      const now = Date.now()
      if (seen.progress !== last) {
        last = seen.progress
        movedAt = now
      }
      const why =
        now - movedAt > bounds.stallSeconds * 1000
          ? `no progress for ${bounds.stallSeconds} s`
          : now - started > bounds.maxSeconds * 1000
            ? `still not done after ${bounds.maxSeconds} s`
            : undefined
      if (why !== undefined)
        return yield* Effect.dieMessage(
          `timed out waiting for ${label} (${why}, ${((now - started) / 1000).toFixed(1)} s in all): ${last}\n${context()}`
        )
      yield* Effect.sleep("200 millis")
    }
  })

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

export interface HandledRow {
  readonly session_id: string
  readonly seq: number | string
  readonly runner: string
  readonly handled_at: number | string
}

export interface Verdict {
  readonly events: number
  readonly missing: ReadonlyArray<string>
  readonly duplicated: ReadonlyArray<string>
  readonly unexpected: ReadonlyArray<string>
}

/** Compares what was handled with the gateway's log, seq by seq. */
export const verify = (logs: ReadonlyMap<string, ReadonlyArray<number>>, rows: ReadonlyArray<HandledRow>): Verdict => {
  const counts = new Map<string, number>()
  for (const row of rows) {
    const key = `${row.session_id}#${Number(row.seq)}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  const missing: Array<string> = []
  const duplicated: Array<string> = []
  const expected = new Set<string>()
  for (const [sessionId, seqs] of logs) {
    for (const seq of seqs) {
      const key = `${sessionId}#${seq}`
      expected.add(key)
      const count = counts.get(key) ?? 0
      if (count === 0) missing.push(key)
      if (count > 1) duplicated.push(`${key} x${count}`)
    }
  }
  const unexpected = [...counts.keys()].filter((key) => !expected.has(key))
  return { events: expected.size, missing, duplicated, unexpected }
}

export interface Pause {
  /** Sessions the killed runner was following. */
  readonly orphaned: number
  /** From the kill to the first event handled elsewhere: first, median and last orphaned session (ms). */
  readonly firstMs: number
  readonly medianMs: number
  readonly maxMs: number
}

/** The pause after a kill at `killedAt`, from the handled rows. */
export const pauseAfterKill = (rows: ReadonlyArray<HandledRow>, killed: string, killedAt: number): Pause => {
  const last = new Map<string, HandledRow>()
  const resumed = new Map<string, number>()
  for (const row of rows) {
    const at = Number(row.handled_at)
    if (at <= killedAt) {
      const previous = last.get(row.session_id)
      if (previous === undefined || Number(previous.handled_at) <= at) last.set(row.session_id, row)
    } else if (row.runner !== killed) {
      const first = resumed.get(row.session_id)
      if (first === undefined || at < first) resumed.set(row.session_id, at)
    }
  }
  const orphans = [...last.values()].filter((row) => row.runner === killed).map((row) => row.session_id)
  const pauses = orphans.map((id) => (resumed.get(id) ?? Number.POSITIVE_INFINITY) - killedAt).sort((a, b) => a - b)
  return {
    orphaned: orphans.length,
    firstMs: pauses[0] ?? Number.NaN,
    medianMs: pauses[Math.floor(pauses.length / 2)] ?? Number.NaN,
    maxMs: pauses[pauses.length - 1] ?? Number.NaN
  }
}

const gatewayLogs = (gateway: Gateway.Gateway, sessionIds: ReadonlyArray<string>) =>
  Effect.map(
    Effect.forEach(sessionIds, (id) => Effect.map(gateway.sessionLog(id), (log) => [id, log] as const)),
    (entries) => new Map(entries)
  )

const lastIndexOf = (log: ReadonlyArray<{ readonly type: string }>, type: string) => {
  for (let i = log.length - 1; i >= 0; i--) if (log[i]!.type === type) return i
  return -1
}

const handledCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM handled`, (rows) => Number(rows[0]?.n ?? 0))
)

/** The sessions whose last turn has ended (`turn_complete`, then status back to ready) with every event handled. */
const sessionsDone = (gateway: Gateway.Gateway, sessionIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const logs = yield* gatewayLogs(gateway, sessionIds)
    const rows = yield* sql<{ session_id: string; top: number | string }>`
      SELECT session_id, MAX(seq) AS top FROM handled GROUP BY session_id`
    const top = new Map(rows.map((row) => [row.session_id, Number(row.top)]))
    return [...logs]
      .filter(([id, log]) => {
        const last = log[log.length - 1]
        const started = lastIndexOf(log, "turn_started")
        const completed = lastIndexOf(log, "turn_complete")
        return last !== undefined && last.type === "session_state" && completed > started && top.get(id) === last.seq
      })
      .map(([id]) => id)
  })

/** Every session's last turn has ended and its events are handled. */
const allDone = (gateway: Gateway.Gateway, sessionIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const done = (yield* sessionsDone(gateway, sessionIds)).length
    const handled = yield* handledCount
    return {
      done: done === sessionIds.length,
      progress: `${done} of ${sessionIds.length} sessions with their turn complete and handled, ${handled} events handled`
    }
  })

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/**
 * Waits until every session has events handled, then two seconds more: the time to kill a runner.
 * Bounds: 30 s without a new session reached or a new event handled is a hang (a runner's start,
 * discovery included, takes a few seconds; the watcher's own wait for the connection's identity,
 * `SessionWatcher.identityWait`, is 10 s and warns in the log); 60 s in all. Dies if by then a
 * session has nothing left to handle (its turn over and handled): a kill then would not be
 * mid-stream, and the resumption it is meant to show could not be seen.
 */
const midStream = (gateway: Gateway.Gateway, sessionIds: ReadonlyArray<string>, context: () => string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const started = Date.now()
    yield* waitUntil(
      "every session being handled",
      Effect.map(
        sql<{ sessions: number | string; events: number | string }>`
          SELECT COUNT(DISTINCT session_id) AS sessions, COUNT(*) AS events FROM handled`,
        (rows) => {
          const reached = Number(rows[0]?.sessions ?? 0)
          return {
            done: reached === sessionIds.length,
            progress: `${reached} of ${sessionIds.length} sessions handled, ${Number(rows[0]?.events ?? 0)} events handled`
          }
        }
      ),
      { stallSeconds: 30, maxSeconds: 60 },
      context
    )
    const reachedMs = Date.now() - started
    yield* Effect.sleep("2 seconds")
    const over = yield* Effect.orDie(sessionsDone(gateway, sessionIds))
    if (over.length > 0)
      return yield* Effect.dieMessage(
        `not a mid-stream kill: ${over.length} of ${sessionIds.length} sessions were already over and handled (the runners were too slow to reach every session while the turns ran)\n${context()}`
      )
    return reachedMs
  })

/**
 * After a kill: 60 s without an event handled is a hang (the pause after a kill is the shard lock
 * expiry, 4 s, plus a restart or reassignment, about 10 s under load); 180 s in all.
 */
const afterKill = { stallSeconds: 60, maxSeconds: 180 } as const

export interface FailoverResult {
  readonly verdict: Verdict
  readonly pause: Pause
  readonly byRunner: Readonly<Record<string, number>>
  /** Rows written by the killed runner after its kill (must be 0). */
  readonly afterKillByVictim: number
  /** From the turns' start to events of every session handled (ms). */
  readonly reachedMs: number
}

export interface FailoverOptions {
  readonly sessions: number
  /** Events per turn, one gateway step (100 ms) apart. */
  readonly events: number
}

const checkAfter = (
  gateway: Gateway.Gateway,
  sessions: ReadonlyArray<string>,
  victim: string,
  killedAt: number,
  runners: ReadonlyArray<string>
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* Effect.orDie(sql<HandledRow>`SELECT session_id, seq, runner, handled_at FROM handled`)
    const logs = yield* gatewayLogs(gateway, sessions)
    return {
      verdict: verify(new Map([...logs].map(([id, log]) => [id, log.map((e) => e.seq)])), rows),
      pause: pauseAfterKill(rows, victim, killedAt),
      byRunner: Object.fromEntries(runners.map((name) => [name, rows.filter((row) => row.runner === name).length])),
      afterKillByVictim: rows.filter((row) => row.runner === victim && Number(row.handled_at) > killedAt).length
    }
  })

/**
 * PostgreSQL, three runner processes: sessions streaming turns, half followed on their creator's
 * `Follow` (sent by this process as a client-only member of the cluster), half found by the
 * tenant's watcher; runner-2 killed with SIGKILL mid-stream.
 */
export const pgFailover = (database: { readonly pg: string }, options: FailoverOptions) =>
  Effect.gen(function* () {
    const { gateway, url } = yield* serveGateway(100)
    const view = yield* reader(database)
    const creator = yield* Effect.orDie(
      Layer.build(
        FollowerRunner.layerPgClient({ database: { url: Redacted.make(database.pg) }, shardingConfig: fastTimings })
      )
    )
    const ports = yield* Effect.promise(() => Promise.all([1, 2, 3].map(() => Postgres.freePort())))
    const configs = ports.map(
      (port, i): RunnerConfig => ({
        name: `runner-${i + 1}`,
        database,
        port,
        gatewayUrl: url,
        shardingConfig: fastTimings
      })
    )
    // One first, so that the tables are created once.
    const first = yield* runner(configs[0]!)
    const runners = [first, ...(yield* Effect.forEach(configs.slice(1), runner, { concurrency: "unbounded" }))]
    const logsOf = () => runners.map((r) => logTail(r, 3000)).join("\n")
    return yield* Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* waitFor(
        "the 300 shards locked, spread over the 3 runners",
        Effect.map(
          sql<{ locks: number | string; pids: number | string }>`
            SELECT COUNT(*) AS locks, COUNT(DISTINCT pid) AS pids FROM pg_locks WHERE locktype = 'advisory' AND granted`,
          (rows) => Number(rows[0]?.locks) === 300 && Number(rows[0]?.pids) === 3
        ),
        60,
        logsOf
      )
      const client = yield* openClient(url)
      const sessions = yield* createSessions(client, options.sessions)
      yield* Effect.orDie(
        Effect.forEach(
          sessions.filter((_, i) => i % 2 === 0),
          SessionFollower.follow,
          { discard: true }
        ).pipe(Effect.provide(creator))
      )
      yield* startTurns(client, sessions, options.events)
      const reachedMs = yield* midStream(gateway, sessions, logsOf)
      const victim = runners[1]!
      const killedAt = yield* kill(victim)
      yield* waitUntil("every turn complete and handled", allDone(gateway, sessions), afterKill, logsOf)
      const result = yield* checkAfter(
        gateway,
        sessions,
        victim.name,
        killedAt,
        runners.map((r) => r.name)
      )
      return { ...result, reachedMs }
    }).pipe(Effect.provide(view))
  })

/**
 * SQLite, one runner process: sessions streaming turns, found by the tenant's watcher (no
 * `Follow` is sent); the process killed with SIGKILL mid-stream and started again on the same file.
 */
export const sqliteRestart = (database: { readonly sqlite: string }, options: FailoverOptions) =>
  Effect.gen(function* () {
    const { gateway, url } = yield* serveGateway(100)
    const port = yield* Effect.promise(() => Postgres.freePort())
    const config = (name: string): RunnerConfig => ({
      name,
      database,
      port,
      gatewayUrl: url,
      shardingConfig: fastTimings
    })
    const before = yield* runner(config("sqlite-1"))
    const view = yield* reader(database)
    return yield* Effect.gen(function* () {
      const client = yield* openClient(url)
      const sessions = yield* createSessions(client, options.sessions)
      yield* startTurns(client, sessions, options.events)
      const reachedMs = yield* midStream(gateway, sessions, () => logTail(before))
      const killedAt = yield* kill(before)
      const after = yield* runner(config("sqlite-2"))
      yield* waitUntil("every turn complete and handled", allDone(gateway, sessions), afterKill, () =>
        [before, after].map((r) => logTail(r)).join("\n")
      )
      const result = yield* checkAfter(gateway, sessions, before.name, killedAt, [before.name, after.name])
      return { ...result, reachedMs }
    }).pipe(Effect.provide(view))
  })

export interface ThroughputOptions {
  readonly sessions: number
  /** Events per session in the measured turn (played as fast as the gateway can). */
  readonly events: number
  readonly batchSize: number
}

export interface ThroughputResult {
  readonly events: number
  readonly seconds: number
  /** From the first session created to every follower live (one event each handled). */
  readonly startupSeconds: number
  /** The runner process's CPU seconds during the measured turn. */
  readonly runnerCpuSeconds: number
}

/**
 * One runner following `sessions` sessions (found by the watcher): every session first runs a
 * one-event turn (so that every follower is live), then a turn of `events` events, all at once;
 * measured from the first `run_turn` to the last event handled.
 */
export const throughput = (database: Database, options: ThroughputOptions) =>
  Effect.gen(function* () {
    const { gateway, url } = yield* serveGateway(0)
    const port = yield* Effect.promise(() => Postgres.freePort())
    const r = yield* runner({
      name: "bench",
      database,
      port,
      gatewayUrl: url,
      shardingConfig: fastTimings,
      batchSize: options.batchSize
    })
    const view = yield* reader(database)
    return yield* Effect.gen(function* () {
      // A turn of n events logs n + 4 (turn_started, session_state running, turn_complete, session_state ready).
      const handledAtLeast = (n: number) =>
        waitFor(
          `${n} events handled`,
          Effect.map(handledCount, (count) => count >= n),
          600,
          () => logTail(r)
        )
      const client = yield* openClient(url)
      const created = Date.now()
      const sessions = yield* createSessions(client, options.sessions)
      yield* startTurns(client, sessions, 1)
      yield* handledAtLeast(options.sessions * 5)
      const live = Date.now()
      const base = yield* Effect.orDie(handledCount)
      const cpuBefore = r.cpuSeconds()
      const started = performance.now()
      yield* startTurns(client, sessions, options.events)
      yield* handledAtLeast(base + options.sessions * (options.events + 4))
      const seconds = (performance.now() - started) / 1000
      const runnerCpuSeconds = r.cpuSeconds() - cpuBefore
      yield* waitUntil("every event handled", allDone(gateway, sessions), { stallSeconds: 60, maxSeconds: 60 }, () =>
        logTail(r)
      )
      const events = (yield* Effect.orDie(handledCount)) - base
      return { events, seconds, startupSeconds: (live - created) / 1000, runnerCpuSeconds }
    }).pipe(Effect.provide(view))
  })

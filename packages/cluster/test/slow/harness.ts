/**
 * Runner processes, the testkit gateway over ws with a streaming agent, and the exactly-once check
 * against the gateway's own log, shared by the failover tests and the benchmark.
 */

import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Agent } from "@diminuendo/testkit"
import * as Effect from "effect/Effect"
import type { RunnerConfig } from "./runner.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const packageDir = path.resolve(here, "..", "..")

/** Emits `text_delta`s one gateway step apart; the prompt is how many (`"stream 300"`). */
export const streamAgent: Agent.Agent = (turn) =>
  Effect.forEach(
    Array.from({ length: Number(turn.prompt.split(" ")[1] ?? 10) }, (_, i) => i),
    (i) => Effect.zipRight(turn.step, turn.emit({ type: "text_delta", text: `${i} ` })),
    { discard: true }
  )

export interface Runner {
  readonly name: string
  readonly process: ChildProcess
  /** Resolves once the runner printed `ready`. */
  readonly ready: Promise<void>
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<string>
  /** The last lines it wrote to stderr (for failure messages). */
  readonly log: () => string
}

export const spawnRunner = (config: RunnerConfig): Runner => {
  const child = spawn(process.execPath, ["--conditions=diminuendo-source", "--import", "tsx", "test/slow/runner.ts"], {
    cwd: packageDir,
    env: { ...process.env, RUNNER_CONFIG: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stderr = ""
  child.stderr!.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-20_000)
  })
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? `exit ${code}`))
  )
  const ready = new Promise<void>((resolve, reject) => {
    let stdout = ""
    child.stdout!.on("data", (chunk) => {
      stdout += chunk
      if (stdout.includes("ready")) resolve()
    })
    void exited.then((how) => reject(new Error(`runner ${config.name} exited (${how}) before ready:\n${stderr}`)))
  })
  return { name: config.name, process: child, ready, exited, log: () => stderr }
}

export const stopRunner = async (runner: Runner, signal: NodeJS.Signals = "SIGTERM") => {
  if (runner.process.exitCode !== null || runner.process.signalCode !== null) return
  runner.process.kill(signal)
  const timer = setTimeout(() => runner.process.kill("SIGKILL"), 15_000)
  await runner.exited
  clearTimeout(timer)
}

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
  let events = 0
  const expected = new Set<string>()
  for (const [sessionId, seqs] of logs) {
    for (const seq of seqs) {
      const key = `${sessionId}#${seq}`
      expected.add(key)
      events += 1
      const count = counts.get(key) ?? 0
      if (count === 0) missing.push(key)
      if (count > 1) duplicated.push(`${key} x${count}`)
    }
  }
  const unexpected = [...counts.keys()].filter((key) => !expected.has(key))
  return { events, missing, duplicated, unexpected }
}

export interface Pause {
  /** Sessions the killed runner was following. */
  readonly orphaned: number
  /** From the kill to the first event handled by another runner, per orphaned session (ms). */
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

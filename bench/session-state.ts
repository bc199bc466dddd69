/**
 * SessionState's reducer on a streaming turn: CPU time and bytes allocated for 1,000 and 10,000
 * `text_delta`s, into a fresh session and into one that already holds 1,000 turns. Linear cost
 * shows as a 10x ratio between the two sizes (quadratic would be 100x); the history should add a
 * constant per delta, not a copy of it. Baseline: the same deltas appended to a string with `+=`.
 * Allocation is measured with V8's GC profiler: bytes collected during the run plus the growth of
 * the used heap over it.
 */
import * as v8 from "node:v8"
import { SessionState } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import { summarize } from "./measure.js"

const sessionId = "bench"

const deltas = (turnId: string, count: number, firstSeq: number): Array<ServerEvent.SessionEvent> =>
  Array.from({ length: count }, (_, i) => ({
    type: "text_delta",
    sessionId,
    turnId,
    seq: firstSeq + i,
    ts: i,
    text: `word${i % 97} `
  }))

/** A session with `turns` completed turns (text, a tool call, usage each). */
const withHistory = (turns: number): SessionState.SessionState => {
  let state = SessionState.empty(sessionId)
  let seq = 1
  for (let n = 0; n < turns; n++) {
    const turnId = `old-${n}`
    const events: Array<ServerEvent.SessionEvent> = [
      { type: "turn_started", sessionId, turnId, seq: seq++, ts: 0 },
      { type: "text_delta", sessionId, turnId, seq: seq++, ts: 0, text: "Looking. " },
      { type: "tool_call_start", sessionId, turnId, seq: seq++, ts: 0, toolCallId: `${turnId}-t`, toolName: "read" },
      {
        type: "tool_call",
        sessionId,
        turnId,
        seq: seq++,
        ts: 0,
        toolCallId: `${turnId}-t`,
        toolName: "read",
        args: {}
      },
      {
        type: "tool_result",
        sessionId,
        turnId,
        seq: seq++,
        ts: 0,
        toolCallId: `${turnId}-t`,
        status: "success",
        output: 1
      },
      { type: "usage_update", sessionId, turnId, seq: seq++, ts: 0, inputTokens: 10, outputTokens: 5 },
      { type: "turn_complete", sessionId, turnId, seq: seq++, ts: 0, finalText: "Looking. " }
    ]
    state = SessionState.fold(state, events)
  }
  return state
}

interface Run {
  readonly cpuMs: number
  readonly allocatedBytes: number
}

/** Runs `f` once, measuring CPU time and the bytes it allocated. */
const measured = (f: () => unknown): Run => {
  globalThis.gc?.()
  const profiler = new v8.GCProfiler()
  profiler.start()
  const usedBefore = v8.getHeapStatistics().used_heap_size
  const cpu = process.cpuUsage()
  const kept = f()
  const used = process.cpuUsage(cpu)
  const usedAfter = v8.getHeapStatistics().used_heap_size
  const profile = profiler.stop()
  let collected = 0
  for (const gc of profile.statistics) {
    collected += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize
  }
  void kept
  return { cpuMs: (used.user + used.system) / 1000, allocatedBytes: usedAfter - usedBefore + collected }
}

const foldTurn = (start: SessionState.SessionState, events: ReadonlyArray<ServerEvent.SessionEvent>) => () => {
  const turnId = (events[0] as ServerEvent.TextDelta).turnId
  const firstSeq = events[0]!.seq
  let state = SessionState.reduce(start, { type: "turn_started", sessionId, turnId, seq: firstSeq - 1, ts: 0 })
  for (const event of events) state = SessionState.reduce(state, event)
  // Reading the text flattens it, as a render would once.
  return SessionState.currentTurn(state)!.text.length
}

/** A turn's deltas with a tool call (start, call, result) after every 50 deltas. */
const withToolCalls = (turnId: string, count: number, firstSeq: number): Array<ServerEvent.SessionEvent> => {
  const events: Array<ServerEvent.SessionEvent> = []
  let seq = firstSeq
  for (let i = 0; i < count; i++) {
    events.push({ type: "text_delta", sessionId, turnId, seq: seq++, ts: i, text: `word${i % 97} ` })
    if (i % 50 === 49) {
      const toolCallId = `${turnId}-call-${i}`
      events.push(
        { type: "tool_call_start", sessionId, turnId, seq: seq++, ts: i, toolCallId, toolName: "read" },
        { type: "tool_call", sessionId, turnId, seq: seq++, ts: i, toolCallId, toolName: "read", args: { i } },
        { type: "tool_result", sessionId, turnId, seq: seq++, ts: i, toolCallId, status: "success", output: i }
      )
    }
  }
  return events
}

const concat = (events: ReadonlyArray<ServerEvent.SessionEvent>) => () => {
  let text = ""
  for (const event of events) text += (event as ServerEvent.TextDelta).text
  return text.charCodeAt(text.length - 1)
}

export interface SessionStateBench {
  readonly rows: ReadonlyArray<{
    readonly name: string
    readonly deltas: number
    readonly cpuMs: number
    readonly allocatedMiB: number
    readonly bytesPerDelta: number
  }>
  readonly rounds: number
}

export const runSessionStateBench = (options: { readonly rounds: number; readonly history: number }) => {
  const history = withHistory(options.history)
  const historySeq = history.lastSeq! + 2
  const cases: ReadonlyArray<readonly [string, number, () => unknown]> = [1_000, 10_000].flatMap((n) => {
    const fresh = deltas("t", n, 2)
    const later = deltas("t", n, historySeq)
    return [
      ["`+=` of the delta texts (baseline)", n, concat(fresh)],
      ["SessionState.reduce, fresh session", n, foldTurn(SessionState.empty(sessionId), fresh)],
      [`SessionState.reduce, after ${options.history.toLocaleString("en")} turns`, n, foldTurn(history, later)],
      [
        "SessionState.reduce, a tool call every 50 deltas",
        n,
        foldTurn(SessionState.empty(sessionId), withToolCalls("t", n, 2))
      ]
    ] as const
  })
  for (const [, , f] of cases) f()
  const samples = cases.map(() => ({ cpu: [] as Array<number>, bytes: [] as Array<number> }))
  for (let round = 0; round < options.rounds; round++) {
    cases.forEach(([, , f], i) => {
      const run = measured(f)
      samples[i]!.cpu.push(run.cpuMs)
      samples[i]!.bytes.push(run.allocatedBytes)
    })
  }
  return {
    rounds: options.rounds,
    rows: cases.map(([name, n], i) => {
      const cpuMs = summarize(samples[i]!.cpu).median
      const bytes = summarize(samples[i]!.bytes).median
      return { name, deltas: n, cpuMs, allocatedMiB: bytes / 1024 / 1024, bytesPerDelta: bytes / n }
    })
  } satisfies SessionStateBench
}

/** The section's lines for RESULTS.md. */
export const sessionStateSection = (quick: boolean): Array<string> => {
  const r = runSessionStateBench(quick ? { rounds: 2, history: 50 } : { rounds: 9, history: 1_000 })
  const lines = [
    "## 5. SessionState: folding a streaming turn",
    "",
    `A turn of 1,000 and of 10,000 \`text_delta\`s folded with \`SessionState.reduce\`, into a fresh session and into one that already holds ${quick ? 50 : "1,000"} completed turns (each with a tool call), and with a tool call (start, call, result) after every 50 deltas (20 and 200 tool calls: a turn's parts grow with it), then its text read once. CPU time and bytes allocated (V8's GC profiler: bytes collected during the run plus heap growth), median of ${r.rounds} interleaved rounds. Linear cost shows as about 10x from 1,000 to 10,000 deltas (quadratic would be 100x); a long history adds a constant per delta (a deeper path in the turn map), not a copy of the transcript.`,
    "",
    "| | deltas | CPU ms | allocated MiB | bytes per delta |",
    "|---|---:|---:|---:|---:|"
  ]
  for (const row of r.rows) {
    lines.push(
      `| ${row.name} | ${row.deltas.toLocaleString("en")} | ${row.cpuMs.toFixed(2)} | ${row.allocatedMiB.toFixed(2)} | ${row.bytesPerDelta.toFixed(0)} |`
    )
  }
  lines.push("")
  const half = r.rows.length / 2
  const ratios = r.rows.slice(0, half).map((small, i) => {
    const large = r.rows[i + half]!
    return `${small.name}: CPU ${(large.cpuMs / small.cpuMs).toFixed(1)}x, allocation ${(large.allocatedMiB / small.allocatedMiB).toFixed(1)}x`
  })
  lines.push(`10,000 / 1,000 deltas: ${ratios.join("; ")}.`, "")
  return lines
}

import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import WebSocket from "ws"

/**
 * Interleaved measurement: every round runs each contender once, in turn, so noise from the
 * machine hits them alike. Throughput is units per second of CPU time (the loops measured are
 * synchronous): median, min and max over rounds.
 */
export interface Measurement {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly samples: ReadonlyArray<number>
}

export const summarize = (samples: ReadonlyArray<number>): Measurement => {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples }
}

/**
 * Per-round ratios of `a` to `b` (samples taken back to back in each round): less exposed to the
 * machine's drift than the ratio of their medians.
 */
export const pairedRatio = (a: Measurement, b: Measurement): Measurement =>
  summarize(a.samples.map((x, round) => x / b.samples[round]!))

export const measure = (
  contenders: ReadonlyArray<readonly [string, () => void]>,
  rounds: number,
  unitsPerRun: number
): Array<Measurement> => {
  for (const [, run] of contenders) run()
  for (const [, run] of contenders) run()
  const samples: Array<Array<number>> = contenders.map(() => [])
  for (let round = 0; round < rounds; round++) {
    contenders.forEach(([, run], i) => {
      // CPU time of this (single-threaded, synchronous) run: time the machine gives to other
      // processes does not count, which matters on 2 shared cores.
      const start = process.cpuUsage()
      run()
      const used = process.cpuUsage(start)
      samples[i]!.push(unitsPerRun / ((used.user + used.system) / 1e6))
    })
  }
  return samples.map(summarize)
}

export const fmt = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1)

/**
 * Counts the bytes allocated on the V8 heap from now until the returned function is called: the
 * growth of the used heap plus what each collection in between freed (V8's `GCProfiler` reports
 * the used heap before and after each one). Everything the thread allocates counts.
 */
export const heapCounter = (): (() => number) => {
  const profiler = new v8.GCProfiler()
  profiler.start()
  const before = v8.getHeapStatistics().used_heap_size
  return () => {
    const after = v8.getHeapStatistics().used_heap_size
    const { statistics } = profiler.stop()
    const freed = statistics.reduce(
      (sum, gc) => sum + gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize,
      0
    )
    return after - before + freed
  }
}

/**
 * Bytes allocated on the heap per unit by `run` (see {@link heapCounter}): median of `repeats` runs,
 * each after a forced collection when `--expose-gc` is on.
 */
export const allocatedPerUnit = (run: () => void, units: number, repeats = 3): number => {
  const samples: Array<number> = []
  for (let i = 0; i < repeats; i++) {
    global.gc?.()
    const stop = heapCounter()
    run()
    samples.push(stop() / units)
  }
  return summarize(samples).median
}

/**
 * A buffer read as an Effect `Stream` that wakes once per `wake()`, pulling what arrived as one
 * chunk (`Stream.repeatEffectChunkOption`), the way the client's streams are fed.
 */
export const wakingBuffer = <A>() => {
  let buffer: Array<A> = []
  let waiting: (() => void) | undefined
  const waitForMore = Effect.async<void>((resume) => {
    waiting = () => resume(Effect.void)
  })
  const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<never>> = Effect.suspend(() => {
    if (buffer.length === 0) return Effect.zipRight(waitForMore, pull)
    const values = buffer
    buffer = []
    return Effect.succeed(Chunk.unsafeFromArray(values))
  })
  return {
    push: (value: A) => void buffer.push(value),
    wake: () => {
      const w = waiting
      waiting = undefined
      w?.()
    },
    stream: Stream.repeatEffectChunkOption(pull)
  }
}

/** A request of the latency loops. */
export type RequestKind = "ping" | "read_file"

const frameOf = (kind: RequestKind, i: number) =>
  JSON.stringify(
    kind === "ping"
      ? { type: "ping", ts: i, requestId: `p${i}` }
      : { type: "read_file", sessionId: "s-1", path: "a.ts", requestId: `p${i}` }
  )

/** A raw `ws` request/response loop: send, wait for the reply, `JSON.parse` it, next. */
export const rawRoundTrips = (socket: WebSocket, kind: RequestKind, count: number): Promise<Array<number>> =>
  new Promise((resolve) => {
    const out: Array<number> = []
    let sent = 0
    const next = () => {
      sent = performance.now()
      socket.send(frameOf(kind, out.length))
    }
    const onMessage = (data: WebSocket.RawData) => {
      JSON.parse(data.toString())
      out.push((performance.now() - sent) * 1000)
      if (out.length < count) return next()
      socket.off("message", onMessage)
      resolve(out)
    }
    socket.on("message", onMessage)
    next()
  })

/**
 * Starts the stream server (`stream-server.ts`) in a child process, streaming `frames` frames after
 * a join (`env` adds to its environment): its port and the process, to kill when done.
 */
export const startStreamServer = (
  frames: number,
  env: Record<string, string> = {}
): Promise<{ readonly port: number; readonly child: ChildProcess }> =>
  new Promise((resolve, reject) => {
    const here = path.dirname(fileURLToPath(import.meta.url))
    const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
      env: { ...process.env, FRAMES: String(frames), ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.stdout!.once("data", (data) => resolve({ port: Number(String(data).trim()), child }))
    child.once("error", reject)
  })

/** A raw `ws` socket to `url`, once the gateway has said `authenticated`. */
export const rawAuthenticated = (url: string): Promise<WebSocket> =>
  new Promise((resolve) => {
    const ws = new WebSocket(url)
    const onMessage = (data: WebSocket.RawData) => {
      if (JSON.parse(data.toString()).type !== "authenticated") return
      ws.off("message", onMessage)
      resolve(ws)
    }
    ws.on("message", onMessage)
  })

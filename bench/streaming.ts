/**
 * What a user of a streaming agent client feels: `text_delta` throughput into the application and
 * request round trips, against a raw `ws` client that only `JSON.parse`s, on the same server
 * (a child process, which writes the stream as fast as the socket takes it) in the same run.
 */

import { execFile } from "node:child_process"
import * as diagnostics from "node:diagnostics_channel"
import type { Socket } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Codec } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import WebSocket from "ws"
import * as OwnWebSocket from "../packages/client/dist/internal/webSocketClient.js"
import { latency, latencyAlone } from "./latency.js"
import { heapCounter, type Measurement, startStreamServer, summarize, wakingBuffer } from "./measure.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * Socket reads of this process's client sockets: every `data` event of a TCP socket it opens (the
 * streaming runs are sequential, so the count during a run is that run's).
 */
let socketReads = 0
diagnostics.subscribe("net.client.socket", (message) => {
  ;(message as { readonly socket: Socket }).socket.on("data", () => {
    socketReads++
  })
})

interface Run {
  readonly framesPerSecond: number
  readonly cpuMicrosPerFrame: number
  readonly framesPerRead: number
  /** Bytes allocated on the heap per frame, everything in this process included. */
  readonly bytesPerFrame: number
}

/** Measures from `start()` to `stop()`: time, CPU, socket reads and heap allocation. */
const meter = (frames: number) => {
  let cpu = process.cpuUsage()
  let start = 0
  let reads = 0
  let allocated: () => number = () => 0
  return {
    start: () => {
      allocated = heapCounter()
      reads = socketReads
      cpu = process.cpuUsage()
      start = performance.now()
    },
    stop: (): Run => {
      const seconds = (performance.now() - start) / 1000
      const used = process.cpuUsage(cpu)
      const bytes = allocated()
      return {
        framesPerSecond: frames / seconds,
        cpuMicrosPerFrame: (used.user + used.system) / frames,
        framesPerRead: frames / Math.max(1, socketReads - reads),
        bytesPerFrame: bytes / frames
      }
    }
  }
}

/**
 * A raw client's message handler: joins `s-1` once authenticated (starting `m`, sending with
 * `send`), then hands each frame of the stream after the snapshot to `onFrame`.
 */
const joinThenStream = (m: ReturnType<typeof meter>, send: (text: string) => void, onFrame: (text: string) => void) => {
  let streaming = false
  return (text: string) => {
    if (streaming) {
      onFrame(text)
      return
    }
    const event = JSON.parse(text)
    if (event.type === "authenticated") {
      m.start()
      send(JSON.stringify({ type: "join_session", sessionId: "s-1", requestId: "r" }))
    } else if (event.type === "state_snapshot") streaming = true
  }
}

/** {@link joinThenStream} on a raw `ws` socket. */
const rawStream = (url: string, m: ReturnType<typeof meter>, onFrame: (text: string) => void): WebSocket => {
  const socket = new WebSocket(url)
  const handle = joinThenStream(m, (text) => socket.send(text), onFrame)
  socket.on("message", (data) => handle(data.toString()))
  return socket
}

/**
 * {@link joinThenStream} on the client's own WebSocket (`NodeTransport`'s, not public API): the
 * client's transport with nothing of the client above it.
 */
const ownStream = (url: string, m: ReturnType<typeof meter>, onFrame: (text: string) => void) => {
  const handle = joinThenStream(m, (text) => socket.send(text), onFrame)
  const socket = OwnWebSocket.connect(
    { url, maxPayload: 16 * 1024 * 1024, maxBufferedBytes: 64 * 1024 * 1024 },
    {
      onOpenFailed: (message) => console.error(`the raw client on the own WebSocket did not connect: ${message}`),
      onOpen: () => undefined,
      onClose: () => undefined,
      onMessage: (message) => handle(message as string)
    }
  )
  return { close: () => socket.close(1000, "") }
}

/** A raw client (`ws`, or the client's own WebSocket): `parse` for each frame (`JSON.parse`, or the codec), nothing else. */
const rawRun = (
  url: string,
  frames: number,
  parse: (text: string) => unknown,
  open: typeof rawStream | typeof ownStream = rawStream
): Promise<Run> =>
  new Promise((resolve) => {
    const m = meter(frames)
    let seen = 0
    const socket = open(url, m, (text) => {
      parse(text)
      if (++seen === frames) {
        const run = m.stop()
        socket.close()
        resolve(run)
      }
    })
  })

/**
 * The floor of any Effect client that validates: the raw `ws` client running `Codec.decodeOrElse`, each
 * event pushed into a buffer read as an Effect `Stream` that wakes once per socket read (the way
 * the client's streams are fed), drained as the client's is. Nothing else: no sequencing, no
 * fan-out, no requests. What the client spends above this row is its own.
 */
const rejected = () => undefined

const floorRun = (url: string, frames: number, codec: Codec.ClientCodec): Promise<Run> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const buffer = wakingBuffer<unknown>()
        const m = meter(frames)
        const consume = yield* buffer.stream.pipe(Stream.take(frames), Stream.runDrain, Effect.fork)
        const socket = rawStream(url, m, (text) => {
          const event = codec.decodeOrElse(text, rejected)
          if (event !== undefined) buffer.push(event)
          buffer.wake()
        })
        yield* consume.await
        const run = m.stop()
        socket.close()
        return run
      })
    )
  )

const clientRun = (url: string, frames: number): Promise<Run> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url, pingInterval: 0 })
        const m = meter(frames)
        m.start()
        const consume = yield* client.sessionEvents("s-1").pipe(Stream.take(frames), Stream.runDrain, Effect.fork)
        yield* client.joinSession("s-1")
        yield* consume.await
        return m.stop()
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )

/** 10,000 (or `count`) `read_file` requests in flight at once on one connection. */
const inFlight = (url: string, count: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url, pingInterval: 0, requestTimeout: "60 seconds" })
        global.gc?.()
        const heapBefore = process.memoryUsage().heapUsed
        let peakHeap = heapBefore
        const sampler = setInterval(() => {
          peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
        }, 5)
        const start = performance.now()
        const replies = yield* Effect.forEach(
          Array.from({ length: count }, (_, i) => `file-${i}.ts`),
          (path) => Effect.map(client.readFile("s-1", path), (reply) => reply.path === path),
          { concurrency: "unbounded" }
        )
        clearInterval(sampler)
        return {
          count,
          seconds: (performance.now() - start) / 1000,
          correct: replies.filter(Boolean).length,
          peakHeapDeltaMiB: (peakHeap - heapBefore) / 1024 / 1024
        }
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )

interface IdleMemory {
  readonly baseline: { readonly heapMiB: number; readonly rssMiB: number }
  readonly one: { readonly heapKiB: number; readonly rssKiB: number }
  readonly many: { readonly count: number; readonly heapKiBPerClient: number; readonly rssKiBPerClient: number }
}

/** Idle connections in a fresh process on the built packages (see idle-clients.mjs). */
const idleMemory = async (url: string, count: number, kind: "client" | "raw"): Promise<IdleMemory> => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--expose-gc", path.join(here, "idle-clients.mjs"), url, String(count), kind],
    { cwd: path.join(here, ".."), encoding: "utf8" }
  )
  return JSON.parse(stdout.trim().split("\n").pop()!) as IdleMemory
}

export interface StreamingResult {
  readonly frames: number
  readonly raw: Measurement
  readonly rawCodec: Measurement
  readonly floor: Measurement
  readonly client: Measurement
  readonly rawCpu: Measurement
  readonly rawCodecCpu: Measurement
  readonly floorCpu: Measurement
  readonly clientCpu: Measurement
  /** A raw client on the client's own WebSocket, `JSON.parse` only: what the client costs above its transport. */
  readonly rawOwn: Measurement
  readonly rawOwnCpu: Measurement
  /** Frames per socket read, median over rounds. */
  readonly rawPerRead: number
  readonly rawCodecPerRead: number
  readonly floorPerRead: number
  readonly clientPerRead: number
  readonly rawOwnPerRead: number
  /** Bytes allocated on the heap per frame, median over rounds. */
  readonly rawBytes: number
  readonly rawCodecBytes: number
  readonly floorBytes: number
  readonly clientBytes: number
  readonly rawOwnBytes: number
  /** The rounds before the measured ones (Effect's stream code still being compiled). */
  readonly early: Record<"raw" | "floor" | "client", { readonly fps: Measurement; readonly cpu: Measurement }>
  readonly latency: Awaited<ReturnType<typeof latency>>
  /** The raw loops alone, in processes of their own (bench/early-tail.ts): the lowest of three. */
  readonly latencyAlone: Awaited<ReturnType<typeof latencyAlone>>
  readonly inFlight: Awaited<ReturnType<typeof inFlight>>
  readonly idle: IdleMemory
  readonly idleRaw: IdleMemory
}

export const runStreamingBench = async (options: {
  readonly frames: number
  readonly rounds: number
  /** Runs of each contender before the measured rounds. */
  readonly warmRounds: number
  readonly latencyRounds: number
  /** Round trips of each loop before the steady-state measurement. */
  readonly latencyWarm: number
  /** Round trips of each loop in the steady-state measurement. */
  readonly latencySteady: number
  readonly inFlight: number
  readonly idleClients: number
}): Promise<StreamingResult> => {
  const { port, child } = await startStreamServer(options.frames)
  const url = `ws://127.0.0.1:${port}`
  const codec = Codec.makeClientCodec()
  const parse = (text: string) => JSON.parse(text)
  const decode = (text: string) => codec.decodeOrElse(text, rejected)
  try {
    const runners: ReadonlyArray<() => Promise<Run>> = [
      () => rawRun(url, options.frames, parse),
      () => rawRun(url, options.frames, decode),
      () => floorRun(url, options.frames, codec),
      () => clientRun(url, options.frames),
      () => rawRun(url, options.frames, parse, ownStream)
    ]
    /** `rounds` rounds of every contender; each round starts with the next one in turn, so none
     * always runs first (within a round the order is the same cycle: each contender follows the
     * same one, and pays for the garbage it left, except when it starts the round). */
    const roundsOf = async (rounds: number) => {
      const runs: Array<Array<Run>> = runners.map(() => [])
      for (let i = 0; i < rounds; i++) {
        for (let k = 0; k < runners.length; k++) {
          const which = (i + k) % runners.length
          runs[which]!.push(await runners[which]!())
        }
      }
      return runs
    }
    // One run of each before anything is recorded; then the early rounds, while the JIT still
    // compiles Effect's stream machinery (the work woken per socket read took 3.7x to 3.8x less
    // CPU per frame in a client's sixth run of 100,000 frames than in its first:
    // bench/stream-consumer-wakes.ts); then the measured rounds, in steady state.
    await roundsOf(1)
    const [rawEarly, , floorEarly, oursEarly] = await roundsOf(options.warmRounds)
    const [raw, rawCodec, floor, ours, rawOwn] = (await roundsOf(options.rounds)) as [
      Array<Run>,
      Array<Run>,
      Array<Run>,
      Array<Run>,
      Array<Run>
    ]
    const early = (runs: Array<Run>) => ({
      fps: summarize(runs.map((r) => r.framesPerSecond)),
      cpu: summarize(runs.map((r) => r.cpuMicrosPerFrame))
    })
    const median = (runs: Array<Run>, f: (run: Run) => number) => summarize(runs.map(f)).median
    return {
      frames: options.frames,
      early: { raw: early(rawEarly!), floor: early(floorEarly!), client: early(oursEarly!) },
      raw: summarize(raw.map((r) => r.framesPerSecond)),
      rawCodec: summarize(rawCodec.map((r) => r.framesPerSecond)),
      floor: summarize(floor.map((r) => r.framesPerSecond)),
      client: summarize(ours.map((r) => r.framesPerSecond)),
      rawOwn: summarize(rawOwn.map((r) => r.framesPerSecond)),
      rawCpu: summarize(raw.map((r) => r.cpuMicrosPerFrame)),
      rawCodecCpu: summarize(rawCodec.map((r) => r.cpuMicrosPerFrame)),
      floorCpu: summarize(floor.map((r) => r.cpuMicrosPerFrame)),
      clientCpu: summarize(ours.map((r) => r.cpuMicrosPerFrame)),
      rawOwnCpu: summarize(rawOwn.map((r) => r.cpuMicrosPerFrame)),
      rawPerRead: median(raw, (r) => r.framesPerRead),
      rawCodecPerRead: median(rawCodec, (r) => r.framesPerRead),
      floorPerRead: median(floor, (r) => r.framesPerRead),
      clientPerRead: median(ours, (r) => r.framesPerRead),
      rawOwnPerRead: median(rawOwn, (r) => r.framesPerRead),
      rawBytes: median(raw, (r) => r.bytesPerFrame),
      rawCodecBytes: median(rawCodec, (r) => r.bytesPerFrame),
      floorBytes: median(floor, (r) => r.bytesPerFrame),
      clientBytes: median(ours, (r) => r.bytesPerFrame),
      rawOwnBytes: median(rawOwn, (r) => r.bytesPerFrame),
      latency: await latency(url, options.latencyRounds, options.latencyWarm, options.latencySteady),
      latencyAlone: await latencyAlone(options.latencyRounds, options.latencyWarm, options.latencySteady),
      inFlight: await inFlight(url, options.inFlight),
      idle: await idleMemory(url, options.idleClients, "client"),
      idleRaw: await idleMemory(url, options.idleClients, "raw")
    }
  } finally {
    child.kill()
  }
}

/**
 * What a user of a streaming agent client feels: `text_delta` throughput into the application and
 * request round trips, against a raw `ws` client that only `JSON.parse`s, on the same server
 * (a child process) in the same run.
 */

import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import WebSocket from "ws"
import { type Measurement, summarize } from "./measure.js"

const here = path.dirname(fileURLToPath(import.meta.url))

const startServer = (frames: number): Promise<{ port: number; child: ChildProcess }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
      env: { ...process.env, FRAMES: String(frames) },
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.stdout!.once("data", (data) => resolve({ port: Number(String(data).trim()), child }))
    child.once("error", reject)
  })

interface Run {
  readonly framesPerSecond: number
  readonly cpuMicrosPerFrame: number
}

const rawRun = (url: string, frames: number): Promise<Run> =>
  new Promise((resolve) => {
    const socket = new WebSocket(url)
    let seen = 0
    let start = 0
    let cpu = process.cpuUsage()
    socket.on("message", (data) => {
      const event = JSON.parse(data.toString())
      if (event.type === "authenticated") {
        cpu = process.cpuUsage()
        start = performance.now()
        socket.send(JSON.stringify({ type: "join_session", sessionId: "s-1", requestId: "r" }))
      } else if (event.type === "text_delta" && ++seen === frames) {
        const seconds = (performance.now() - start) / 1000
        const used = process.cpuUsage(cpu)
        socket.close()
        resolve({ framesPerSecond: frames / seconds, cpuMicrosPerFrame: (used.user + used.system) / frames })
      }
    })
  })

const clientRun = (url: string, frames: number): Promise<Run> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url, pingInterval: 0 })
        const cpu = process.cpuUsage()
        const start = performance.now()
        const consume = yield* client.sessionEvents("s-1").pipe(Stream.take(frames), Stream.runDrain, Effect.fork)
        yield* client.joinSession("s-1")
        yield* consume.await
        const seconds = (performance.now() - start) / 1000
        const used = process.cpuUsage(cpu)
        return { framesPerSecond: frames / seconds, cpuMicrosPerFrame: (used.user + used.system) / frames }
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )

const latency = async (url: string, rounds: number) => {
  const raw: Array<number> = []
  await new Promise<void>((resolve) => {
    const socket = new WebSocket(url)
    let i = 0
    let sent = 0
    const next = () => {
      sent = performance.now()
      socket.send(JSON.stringify({ type: "ping", ts: i, requestId: `p${i}` }))
    }
    socket.on("message", (data) => {
      const event = JSON.parse(data.toString())
      if (event.type === "authenticated") next()
      if (event.type === "pong") {
        raw.push((performance.now() - sent) * 1000)
        if (++i === rounds) {
          socket.close()
          resolve()
        } else next()
      }
    })
  })
  const ours = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url, pingInterval: 0 })
        const out: Array<number> = []
        for (let i = 0; i < rounds; i++) {
          const start = performance.now()
          yield* client.readFile("s-1", "a.ts")
          out.push((performance.now() - start) * 1000)
        }
        const pings: Array<number> = []
        for (let i = 0; i < rounds; i++) {
          const start = performance.now()
          yield* client.ping
          pings.push((performance.now() - start) * 1000)
        }
        return { readFile: out, ping: pings }
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
  const pct = (xs: Array<number>, p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!
  return {
    raw: { p50: pct(raw, 0.5), p99: pct(raw, 0.99) },
    ping: { p50: pct(ours.ping, 0.5), p99: pct(ours.ping, 0.99) },
    readFile: { p50: pct(ours.readFile, 0.5), p99: pct(ours.readFile, 0.99) }
  }
}

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

/** Heap per idle connected client: `count` clients held open at once. */
const idleMemory = (url: string, count: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        global.gc?.()
        const before = process.memoryUsage()
        yield* Effect.forEach(Array.from({ length: count }), () => GatewayClient.make({ url, pingInterval: 0 }), {
          concurrency: 50,
          discard: true
        })
        yield* Effect.sleep("200 millis")
        global.gc?.()
        const after = process.memoryUsage()
        return {
          count,
          heapPerClientKiB: (after.heapUsed - before.heapUsed) / count / 1024,
          rssPerClientKiB: (after.rss - before.rss) / count / 1024,
          gcExposed: global.gc !== undefined
        }
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )

export interface StreamingResult {
  readonly frames: number
  readonly raw: Measurement
  readonly client: Measurement
  readonly rawCpu: Measurement
  readonly clientCpu: Measurement
  readonly latency: Awaited<ReturnType<typeof latency>>
  readonly inFlight: Awaited<ReturnType<typeof inFlight>>
  readonly idle: Awaited<ReturnType<typeof idleMemory>>
}

export const runStreamingBench = async (options: {
  readonly frames: number
  readonly rounds: number
  readonly latencyRounds: number
  readonly inFlight: number
  readonly idleClients: number
}): Promise<StreamingResult> => {
  const { port, child } = await startServer(options.frames)
  const url = `ws://127.0.0.1:${port}`
  try {
    await rawRun(url, options.frames)
    await clientRun(url, options.frames)
    const raw: Array<Run> = []
    const ours: Array<Run> = []
    for (let i = 0; i < options.rounds; i++) {
      raw.push(await rawRun(url, options.frames))
      ours.push(await clientRun(url, options.frames))
    }
    return {
      frames: options.frames,
      raw: summarize(raw.map((r) => r.framesPerSecond)),
      client: summarize(ours.map((r) => r.framesPerSecond)),
      rawCpu: summarize(raw.map((r) => r.cpuMicrosPerFrame)),
      clientCpu: summarize(ours.map((r) => r.cpuMicrosPerFrame)),
      latency: await latency(url, options.latencyRounds),
      inFlight: await inFlight(url, options.inFlight),
      idle: await idleMemory(url, options.idleClients)
    }
  } finally {
    child.kill()
  }
}

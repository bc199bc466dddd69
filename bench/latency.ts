/**
 * Section 2's request round trips (bench/streaming.ts runs them after the streaming rounds;
 * bench/early-tail.ts alone).
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { heapCounter, rawAuthenticated, rawRoundTrips } from "./measure.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * Round trips of `ping` and `read_file`, raw and through the client, each on its own connection
 * opened once. The four loops take turns request by request, so the machine's noise hits them
 * alike: in blocks of 250 (as measured before), a burst of noise lands in one loop's block and
 * moves its p99 alone (bench/ANALYSIS.md, "Request latency: paired round trips"). The first
 * `rounds` of each after a warm-up, then `steadyRounds` more after `warm` more (bench/early-tail.ts
 * runs them alone).
 */
export const latency = async (url: string, rounds: number, warm: number, steadyRounds: number, withClient = true) => {
  const socket = await rawAuthenticated(url)
  const block = Math.min(rounds, 250)
  const loops = () => ({
    rawPing: [] as Array<number>,
    rawReadFile: [] as Array<number>,
    ping: [] as Array<number>,
    readFile: [] as Array<number>
  })
  const samples = loops()
  /** The same loops again after `warm` more round trips each: the process's JIT has compiled them. */
  const steady = loops()
  const bytes = { rawPing: 0, ping: 0 }
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        // Without the client (`withClient` false), the raw loops alone, the same way.
        const client = withClient ? yield* GatewayClient.make({ url, pingInterval: 0 }) : undefined
        const timed = (effect: Effect.Effect<unknown, unknown>, count: number, into: Array<number>) =>
          Effect.gen(function* () {
            for (let i = 0; i < count && client !== undefined; i++) {
              const start = performance.now()
              yield* effect
              into.push((performance.now() - start) * 1000)
            }
          })
        const ping = client === undefined ? Effect.void : Effect.orDie(client.ping)
        const readFile = client === undefined ? Effect.void : Effect.orDie(client.readFile("s-1", "a.ts"))
        // Warm-up: the JIT compiles the four loops' paths before anything is recorded (it had only
        // read_file's: the first client ping loop then paid for compiling ping's).
        const warmUp = Effect.gen(function* () {
          yield* Effect.promise(() => rawRoundTrips(socket, "ping", block))
          yield* timed(ping, block, [])
          yield* Effect.promise(() => rawRoundTrips(socket, "read_file", block))
          yield* timed(readFile, block, [])
        })
        // A forced full collection, then the warm-up again: after one, V8 compiles the hot paths
        // again (25 to 46 functions per 5,000 pings, none without it: bench/request-phases.ts), which
        // would otherwise land in the tail of the first loop measured.
        const collect = Effect.zipRight(
          Effect.sync(() => global.gc?.()),
          warmUp
        )
        yield* warmUp
        // What the streaming rounds before left on the heap is collected first, so a collection of
        // it does not land in either loop's tail (both loops' own garbage still does).
        yield* collect
        const measure = (into: ReturnType<typeof loops>, count: number) =>
          Effect.gen(function* () {
            for (let i = 0; i < count; i++) {
              into.rawPing.push(...(yield* Effect.promise(() => rawRoundTrips(socket, "ping", 1))))
              yield* timed(ping, 1, into.ping)
              into.rawReadFile.push(...(yield* Effect.promise(() => rawRoundTrips(socket, "read_file", 1))))
              yield* timed(readFile, 1, into.readFile)
            }
          })
        yield* measure(samples, rounds)
        // Steady state: `warm` more round trips of each loop, then the same measurement.
        yield* measure(loops(), warm)
        yield* collect
        yield* measure(steady, steadyRounds)
        // What each round trip leaves for the collector: collections are part of the tail.
        let counted = heapCounter()
        yield* Effect.promise(() => rawRoundTrips(socket, "ping", block))
        bytes.rawPing = counted() / block
        counted = heapCounter()
        yield* timed(ping, block, [])
        bytes.ping = counted() / block
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
  socket.close()
  const pct = (xs: Array<number>, p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!
  const summary = (xs: Array<number>) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99) })
  return {
    rawPing: summary(samples.rawPing),
    ping: summary(samples.ping),
    rawReadFile: summary(samples.rawReadFile),
    readFile: summary(samples.readFile),
    steady: {
      rawPing: summary(steady.rawPing),
      ping: summary(steady.ping),
      rawReadFile: summary(steady.rawReadFile),
      readFile: summary(steady.readFile)
    },
    bytes
  }
}

/**
 * The raw request loops alone, each time in a fresh process with no client running
 * (bench/early-tail.ts): of `processes` such processes, the lowest p50 and p99 of each loop in each
 * window (the quietest the machine allowed, the strictest baseline for the client).
 */
export const latencyAlone = async (rounds: number, warm: number, steadyRounds: number, processes = 3) => {
  type Latency = Awaited<ReturnType<typeof latency>>
  const runs: Array<Latency> = []
  for (let i = 0; i < processes; i++) {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        path.join(here, "early-tail.ts"),
        ...[rounds, warm, steadyRounds].map(String),
        "alone",
        "json"
      ],
      { cwd: path.join(here, ".."), encoding: "utf8" }
    )
    runs.push(JSON.parse(stdout) as Latency)
  }
  const lowest = (loop: (l: Latency) => { readonly p50: number; readonly p99: number }) => ({
    p50: Math.min(...runs.map((l) => loop(l).p50)),
    p99: Math.min(...runs.map((l) => loop(l).p99))
  })
  return {
    processes,
    rawPing: lowest((l) => l.rawPing),
    rawReadFile: lowest((l) => l.rawReadFile),
    steady: { rawPing: lowest((l) => l.steady.rawPing), rawReadFile: lowest((l) => l.steady.rawReadFile) }
  }
}

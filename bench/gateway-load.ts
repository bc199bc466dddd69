/**
 * The testkit gateway under load: N concurrent clients on loopback (real ws), each creating a
 * session and running a short echo turn through @diminuendo/client. Reports wall time and peak
 * memory of the whole process (gateway and clients together), and checks every turn's text.
 */
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Gateway, WsServer } from "@diminuendo/testkit"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"

export interface LoadResult {
  readonly connections: number
  readonly seconds: number
  readonly completed: number
  readonly failures: number
  readonly firstFailure: string | undefined
  readonly peakRssMiB: number
  readonly peakHeapMiB: number
  readonly baselineRssMiB: number
}

export const runGatewayLoad = (connections: number): Promise<LoadResult> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        global.gc?.()
        const baseline = process.memoryUsage()
        let peakRss = baseline.rss
        let peakHeap = baseline.heapUsed
        const sampler = setInterval(() => {
          const m = process.memoryUsage()
          peakRss = Math.max(peakRss, m.rss)
          peakHeap = Math.max(peakHeap, m.heapUsed)
        }, 20)
        yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(sampler)))
        const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
        const server = yield* WsServer.serve(gateway)
        const start = performance.now()
        const failures: Array<string> = []
        const one = (i: number) =>
          Effect.scoped(
            Effect.gen(function* () {
              const client = yield* GatewayClient.make({
                url: server.url,
                pingInterval: 0,
                requestTimeout: "60 seconds",
                connectTimeout: "60 seconds"
              })
              const session = yield* client.createSession("echo", `load-${i}`)
              const items = yield* Stream.runCollect(client.turn(session.id, `hello from client ${i}`))
              const last = Chunk.unsafeLast(items)
              return last.type === "turn_complete" && last.finalText === `Echo: hello from client ${i}` ? 1 : 0
            })
          ).pipe(
            // A client that fails (on a loaded machine, a connect refused with ECONNRESET) is counted,
            // not allowed to end the benchmark.
            Effect.catchAll((error) =>
              Effect.sync(() => {
                failures.push(error.message)
                return 0
              })
            )
          )
        const results = yield* Effect.forEach(
          Array.from({ length: connections }, (_, i) => i),
          one,
          {
            concurrency: "unbounded"
          }
        ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
        const seconds = (performance.now() - start) / 1000
        const completed = results.reduce((a: number, b) => a + b, 0)
        return {
          connections,
          seconds,
          completed,
          failures: failures.length,
          firstFailure: failures[0],
          peakRssMiB: peakRss / 1024 / 1024,
          peakHeapMiB: peakHeap / 1024 / 1024,
          baselineRssMiB: baseline.rss / 1024 / 1024
        }
      })
    )
  )

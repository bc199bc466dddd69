/**
 * What one wake of a `sessionEvents` consumer costs, run after run in one process: RUNS client runs
 * of FRAMES `text_delta` frames from the stream server, each timing every task Effect's scheduler
 * runs (the consumer's fiber is woken once per socket read, ~536 frames) in wall time and in
 * process CPU time (`process.cpuUsage`, all threads). The first runs are slower: the JIT is still
 * compiling Effect's stream machinery (the reason section 2 measures its streaming rounds after
 * early rounds reported apart).
 *
 * Usage (after `pnpm build`): node --import tsx bench/stream-consumer-wakes.ts [frames=100000] [runs=6]
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Scheduler from "effect/Scheduler"
import * as Stream from "effect/Stream"

const here = path.dirname(fileURLToPath(import.meta.url))
const frames = Number(process.argv[2] ?? 100_000)
const runs = Number(process.argv[3] ?? 6)
const server = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
  env: { ...process.env, FRAMES: String(frames) },
  stdio: ["ignore", "pipe", "inherit"]
})
const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d) => resolve(Number(String(d)))))
const url = `ws://127.0.0.1:${port}`

// Every task the default scheduler runs, timed.
let wall: Array<number> = []
let cpuMicros = 0
const scheduler = Scheduler.defaultScheduler as unknown as {
  scheduleTask: (task: () => void, priority: number, fiber: unknown) => void
}
const scheduleTask = scheduler.scheduleTask.bind(scheduler)
scheduler.scheduleTask = (task, priority, fiber) =>
  scheduleTask(
    () => {
      const cpu = process.cpuUsage()
      const start = performance.now()
      task()
      wall.push((performance.now() - start) * 1000)
      const used = process.cpuUsage(cpu)
      cpuMicros += used.user + used.system
    },
    priority,
    fiber
  )

try {
  for (let run = 1; run <= runs; run++) {
    let wakes = 0
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const client = yield* GatewayClient.make({ url, pingInterval: 0 })
          const consume = yield* client.sessionEvents("s-1").pipe(
            Stream.take(frames),
            Stream.runForEachChunk(() => Effect.sync(() => void wakes++)),
            Effect.fork
          )
          wall = []
          cpuMicros = 0
          yield* client.joinSession("s-1")
          yield* consume.await
        })
      ).pipe(Effect.provide(NodeTransport.layer))
    )
    const sorted = [...wall].sort((a, b) => a - b)
    const total = wall.reduce((a, b) => a + b, 0)
    console.log(
      `run ${run}: ${wakes} wakes, ${wall.length} tasks; per task median ${sorted[sorted.length >> 1]!.toFixed(0)} µs (wall); per frame ${((total * 1000) / frames).toFixed(0)} ns wall, ${((cpuMicros * 1000) / frames).toFixed(0)} ns CPU`
    )
  }
} finally {
  server.kill()
}

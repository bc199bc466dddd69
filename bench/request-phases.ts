/**
 * One client doing PHASES phases of N round trips (`ping` or `read_file`) against the stream
 * server, printing a marker line at the start of each phase and, after it, the heap after two
 * forced collections. Run it under V8's tracing flags to see what happens phase by phase:
 *
 *   node --expose-gc --trace-opt --import tsx bench/request-phases.ts ping > /tmp/opt.txt
 *   node --expose-gc --trace-deopt --import tsx bench/request-phases.ts ping > /tmp/deopt.txt
 *   node --expose-gc --trace-gc --import tsx bench/request-phases.ts ping > /tmp/gc.txt
 *   awk '/^=== phase/{p=$3} /completed optimizing/{c[p]++} END{for(k in c) print k, c[k]}' /tmp/opt.txt
 *
 * Each phase prints its p50 and p99 round trip. COLLECT=0 leaves out the forced collections.
 *
 * Usage (after `pnpm build`): node --expose-gc --import tsx bench/request-phases.ts [ping|read_file] [N] [PHASES]
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"

const here = path.dirname(fileURLToPath(import.meta.url))
const kind = process.argv[2] === "read_file" ? "read_file" : "ping"
const perPhase = Number(process.argv[3] ?? 5_000)
const phases = Number(process.argv[4] ?? 6)
/** COLLECT=0: no forced collections between phases (they make V8 compile the hot paths again). */
const collect = process.env.COLLECT !== "0"
const server = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
  env: { ...process.env, FRAMES: "1" },
  stdio: ["ignore", "pipe", "inherit"]
})
const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d) => resolve(Number(String(d)))))
const heapAfterGc = () => {
  global.gc?.()
  global.gc?.()
  return (process.memoryUsage().heapUsed / 1024 / 1024).toFixed(2)
}
try {
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url: `ws://127.0.0.1:${port}`, pingInterval: 0 })
        const call: Effect.Effect<unknown, unknown> = kind === "ping" ? client.ping : client.readFile("s-1", "a.ts")
        for (let phase = 0; phase < phases; phase++) {
          console.log(`=== phase ${phase}`)
          const times: Array<number> = []
          for (let i = 0; i < perPhase; i++) {
            const start = performance.now()
            yield* Effect.orDie(call)
            times.push((performance.now() - start) * 1000)
          }
          times.sort((a, b) => a - b)
          const at = (q: number) => times[Math.floor(times.length * q)]!.toFixed(0)
          const heap = collect ? `, heap ${heapAfterGc()} MB after two forced collections` : ""
          console.log(
            `after phase ${phase} (${(phase + 1) * perPhase} ${kind}s): p50 ${at(0.5)} µs, p99 ${at(0.99)} µs${heap}`
          )
        }
      })
    ).pipe(Effect.provide(NodeTransport.layer))
  )
} finally {
  server.kill()
}

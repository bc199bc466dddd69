/**
 * What makes the request tail: `ping` round trips through a raw `ws` client and through
 * @diminuendo/client, in alternating blocks of 250 (as `pnpm bench` measures them), with V8's
 * collections recorded (`PerformanceObserver` on `gc` entries); prints p50/p90/p99/max of each and
 * how many of the slowest 1% had a collection inside them.
 *
 * Usage (after `pnpm build`): node --import tsx bench/latency-tail.ts [requests]
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import WebSocket from "ws"

const here = path.dirname(fileURLToPath(import.meta.url))
const requests = Number(process.argv[2] ?? 5_000)
const block = 250
const server = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
  env: { ...process.env, FRAMES: "1" },
  stdio: ["ignore", "pipe", "inherit"]
})
const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d) => resolve(Number(String(d)))))
const url = `ws://127.0.0.1:${port}`

const collections: Array<readonly [start: number, end: number]> = []
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) collections.push([entry.startTime, entry.startTime + entry.duration])
})
observer.observe({ entryTypes: ["gc"] })

type Span = readonly [kind: "raw" | "client", start: number, end: number]
const spans: Array<Span> = []
const raw = await new Promise<WebSocket>((resolve) => {
  const socket = new WebSocket(url)
  socket.on("message", (data) => {
    if (JSON.parse(data.toString()).type === "authenticated") resolve(socket)
  })
})
const rawPing = (i: number) =>
  new Promise<void>((resolve) => {
    const start = performance.now()
    raw.once("message", (data) => {
      JSON.parse(data.toString())
      spans.push(["raw", start, performance.now()])
      resolve()
    })
    raw.send(JSON.stringify({ type: "ping", ts: i, requestId: `p${i}` }))
  })

await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* GatewayClient.make({ url, pingInterval: 0 })
      for (let done = 0; done < requests + block; done += block) {
        yield* Effect.promise(async () => {
          for (let i = 0; i < block; i++) await rawPing(done + i)
        })
        for (let i = 0; i < block; i++) {
          const start = performance.now()
          yield* Effect.orDie(client.ping)
          spans.push(["client", start, performance.now()])
        }
      }
    })
  ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
)
await new Promise((resolve) => setTimeout(resolve, 100))
observer.disconnect()
raw.close()
server.kill()

for (const kind of ["raw", "client"] as const) {
  // The first block of each is the warm-up.
  const mine = spans.filter((span) => span[0] === kind).slice(block)
  const micros = mine.map(([, start, end]) => (end - start) * 1000).sort((a, b) => a - b)
  const at = (q: number) => micros[Math.min(micros.length - 1, Math.floor(micros.length * q))]!
  const p99 = at(0.99)
  const slowest = mine.filter(([, start, end]) => (end - start) * 1000 >= p99)
  const overlaps = (span: Span) => collections.some(([start, end]) => start < span[2] && end > span[1])
  console.log(
    `${kind}: p50 ${at(0.5).toFixed(0)} µs, p90 ${at(0.9).toFixed(0)}, p99 ${p99.toFixed(0)}, max ${micros[micros.length - 1]!.toFixed(0)}; ` +
      `${slowest.filter(overlaps).length} of the slowest ${slowest.length} and ${mine.filter(overlaps).length} of all ${mine.length} had a collection inside`
  )
}
console.log(`${collections.length} collections`)

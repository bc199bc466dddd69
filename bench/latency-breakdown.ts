/**
 * Where a slow round trip spends its time: `ping` through a raw `ws` client, through the same raw
 * socket awaited in an `Effect.async` (Effect's own share), and through @diminuendo/client, in
 * alternating blocks of 250. The server (TIMED=1) stamps each pong with when its request's bytes
 * arrived and when the pong was written; the client side records its TCP `data` events. Each round
 * trip splits into: to the server (send to the server's `data`), in the server, back (the server's
 * write to this process's `data` event), and in this process after the bytes arrived. Prints p50,
 * p90, p99 per loop, bytes allocated per round trip, and the split of the client's slowest 1%.
 *
 * Usage (after `pnpm build`): node --expose-gc --import tsx bench/latency-breakdown.ts [requests]
 * To keep the server off this process's core: taskset -c 1 node ... with PIN_SERVER=0.
 */
import { spawn } from "node:child_process"
import * as diagnostics from "node:diagnostics_channel"
import type { Socket } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import WebSocket from "ws"
import { heapCounter } from "./measure.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const requests = Number(process.argv[2] ?? 5_000)
const block = 250
const serverArgs = ["--import", "tsx", path.join(here, "stream-server.ts")]
const pin = process.env.PIN_SERVER
const server = spawn(
  pin === undefined ? process.execPath : "taskset",
  pin === undefined ? serverArgs : ["-c", pin, process.execPath, ...serverArgs],
  { env: { ...process.env, FRAMES: "1", TIMED: "1" }, stdio: ["ignore", "pipe", "inherit"] }
)
const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d) => resolve(Number(String(d)))))
const url = `ws://127.0.0.1:${port}`
const now = () => performance.timeOrigin + performance.now()

/** When the last bytes arrived on any of this process's client sockets. */
let lastData = 0
diagnostics.subscribe("net.client.socket", (message) => {
  ;(message as { socket: Socket }).socket.prependListener("data", () => {
    lastData = now()
  })
})

type Kind = "raw" | "effect" | "client"
interface Trip {
  readonly kind: Kind
  readonly total: number
  /** µs: send to the server's `data`, in the server, the server's write to our `data`, ours after it. */
  readonly split: readonly [number, number, number, number]
}
const trips: Array<Trip> = []
/** The last pong seen on any socket (ws emits `message` before the client's handler runs). */
let lastPong: { arrivedAt: number; sentAt: number } | undefined
const record = (kind: Kind, start: number, sent: number) => {
  const end = now()
  const pong = lastPong!
  trips.push({
    kind,
    total: (end - start) * 1000,
    split: [
      (pong.arrivedAt - sent) * 1000,
      (pong.sentAt - pong.arrivedAt) * 1000,
      (lastData - pong.sentAt) * 1000,
      (end - lastData) * 1000
    ]
  })
}
const emit = WebSocket.prototype.emit
WebSocket.prototype.emit = function (this: WebSocket, event: string | symbol, ...args: Array<unknown>) {
  if (event === "message") {
    const parsed = JSON.parse(String(args[0]))
    if (parsed.type === "pong") lastPong = parsed
  }
  return emit.call(this, event, ...args)
} as typeof emit
let sent = 0
const send = WebSocket.prototype.send
WebSocket.prototype.send = function (this: WebSocket, ...args: Parameters<typeof send>) {
  sent = now()
  return send.apply(this, args)
} as typeof send

const raw = await new Promise<WebSocket>((resolve) => {
  const socket = new WebSocket(url)
  socket.on("message", (data) => {
    if (JSON.parse(data.toString()).type === "authenticated") resolve(socket)
  })
})
const rawPing = (i: number) =>
  new Promise<void>((resolve) => {
    const start = now()
    raw.once("message", () => {
      record("raw", start, sent)
      resolve()
    })
    raw.send(JSON.stringify({ type: "ping", ts: i, requestId: `p${i}` }))
  })

const bytes = { raw: 0, client: 0 }
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* GatewayClient.make({ url, pingInterval: 0 })
      for (let done = 0; done < requests + block; done += block) {
        yield* Effect.promise(async () => {
          for (let i = 0; i < block; i++) await rawPing(done + i)
        })
        for (let i = 0; i < block; i++) {
          const start = now()
          yield* Effect.async<void>((resume) => {
            raw.once("message", () => resume(Effect.void))
            raw.send(JSON.stringify({ type: "ping", ts: i, requestId: `q${i}` }))
          })
          record("effect", start, sent)
        }
        for (let i = 0; i < block; i++) {
          const start = now()
          yield* Effect.orDie(client.ping)
          record("client", start, sent)
        }
      }
      let counted = heapCounter()
      yield* Effect.promise(async () => {
        for (let i = 0; i < block; i++) await rawPing(i)
      })
      bytes.raw = counted() / block
      counted = heapCounter()
      for (let i = 0; i < block; i++) yield* Effect.orDie(client.ping)
      bytes.client = counted() / block
    })
  ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
)
raw.close()
server.kill()

const at = (sorted: Array<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!
for (const kind of ["raw", "effect", "client"] as const) {
  // The first block of each is the warm-up.
  const mine = trips.filter((trip) => trip.kind === kind).slice(block)
  const totals = mine.map((trip) => trip.total).sort((a, b) => a - b)
  const parts = [0, 1, 2, 3].map((k) => mine.map((trip) => trip.split[k]!).sort((a, b) => a - b))
  console.log(
    `${kind}: p50 ${at(totals, 0.5).toFixed(0)} µs, p90 ${at(totals, 0.9).toFixed(0)}, p99 ${at(totals, 0.99).toFixed(0)}; ` +
      `p99 of each part: to the server ${at(parts[0]!, 0.99).toFixed(0)}, in it ${at(parts[1]!, 0.99).toFixed(0)}, ` +
      `back ${at(parts[2]!, 0.99).toFixed(0)}, here after the bytes ${at(parts[3]!, 0.99).toFixed(0)}`
  )
}
console.log(`bytes allocated per round trip: raw ${bytes.raw.toFixed(0)}, client ${bytes.client.toFixed(0)}`)
const slowest = trips
  .filter((trip) => trip.kind === "client")
  .slice(block)
  .sort((a, b) => b.total - a.total)
  .slice(0, Math.ceil(requests / 100))
const sum = [0, 1, 2, 3].map((k) => slowest.reduce((s, trip) => s + trip.split[k]!, 0))
const total = slowest.reduce((s, trip) => s + trip.total, 0)
console.log(
  `client's slowest ${slowest.length}: ${(total / slowest.length).toFixed(0)} µs on average, of which to the server ${((100 * sum[0]!) / total).toFixed(0)}%, in it ${((100 * sum[1]!) / total).toFixed(0)}%, back ${((100 * sum[2]!) / total).toFixed(0)}%, here after the bytes ${((100 * sum[3]!) / total).toFixed(0)}%`
)

/**
 * Where a streaming client's CPU goes: one warm-up run, then two runs of FRAMES `text_delta`
 * frames from the stream server under the inspector's sampling profiler, reported as CPU µs per
 * frame by package (effect, ws, the client, the protocol package, Node's internals) and by function.
 * Writes the profile (open it in Chrome's DevTools) to bench/scratch/.
 *
 * Usage (after `pnpm build`): node --import tsx bench/profile-stream.ts raw|codec|client [frames]
 * - raw: a `ws` client that only `JSON.parse`s each frame (the baseline of `pnpm bench`)
 * - codec: the same client running `Codec.decodeOrElse` on each frame (as the client does)
 * - client: @diminuendo/client, the application draining `sessionEvents`
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as inspector from "node:inspector/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Codec } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import WebSocket from "ws"

const here = path.dirname(fileURLToPath(import.meta.url))
const mode = process.argv[2] ?? "client"
const frames = Number(process.argv[3] ?? 200_000)
if (!["raw", "codec", "client"].includes(mode)) throw new Error(`unknown mode ${mode}: raw, codec or client`)

const server = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
  env: { ...process.env, FRAMES: String(frames) },
  stdio: ["ignore", "pipe", "inherit"]
})
const port = await new Promise<number>((resolve) => server.stdout!.once("data", (d) => resolve(Number(String(d)))))
const url = `ws://127.0.0.1:${port}`

const parse =
  mode === "codec"
    ? (text: string) => Codec.client.decodeOrElse(text, () => undefined)
    : (text: string) => JSON.parse(text)
const rawRun = () =>
  new Promise<void>((resolve) => {
    const socket = new WebSocket(url)
    let seen = 0
    let streaming = false
    socket.on("message", (data) => {
      const text = data.toString()
      if (streaming) {
        parse(text)
        if (++seen === frames) {
          socket.close()
          resolve()
        }
        return
      }
      const event = JSON.parse(text)
      if (event.type === "authenticated") socket.send(JSON.stringify({ type: "join_session", sessionId: "s-1" }))
      else if (event.type === "state_snapshot") streaming = true
    })
  })
const clientRun = () =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url, pingInterval: 0 })
        const consume = yield* client.sessionEvents("s-1").pipe(Stream.take(frames), Stream.runDrain, Effect.fork)
        yield* client.joinSession("s-1")
        yield* consume.await
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
const run = mode === "client" ? clientRun : rawRun

await run()
const session = new inspector.Session()
session.connect()
await session.post("Profiler.enable")
await session.post("Profiler.setSamplingInterval", { interval: 100 })
await session.post("Profiler.start")
const cpu = process.cpuUsage()
await run()
await run()
const used = process.cpuUsage(cpu)
const { profile } = await session.post("Profiler.stop")
server.kill()

const micros = (used.user + used.system) / (2 * frames)
const out = path.join(here, "scratch", `stream-${mode}.cpuprofile`)
fs.mkdirSync(path.dirname(out), { recursive: true })
fs.writeFileSync(out, JSON.stringify(profile))

const packageOf = (url: string, name: string): string => {
  if (url === "") return name === "(garbage collector)" ? "GC" : `V8/native ${name}`
  if (url.includes("/effect/")) return "effect"
  if (url.includes("/ws/")) return "ws"
  if (url.includes("packages/client")) return "@diminuendo/client"
  if (url.includes("packages/protocol")) return "@diminuendo/protocol (JSON.parse included)"
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`
  if (url.includes("/bench/")) return "this script (JSON.parse included)"
  return url
}
const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const samples = new Map<number, number>()
for (const id of profile.samples ?? []) samples.set(id, (samples.get(id) ?? 0) + 1)
const total = [...samples.values()].reduce((a, b) => a + b, 0)
const byPackage = new Map<string, number>()
const byFunction = new Map<string, number>()
for (const [id, count] of samples) {
  const frame = nodes.get(id)!.callFrame
  const pkg = packageOf(frame.url, frame.functionName)
  if (pkg === "V8/native (idle)") continue
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + count)
  const fn = `${pkg}: ${frame.functionName || "(anonymous)"}:${frame.lineNumber + 1}`
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + count)
}
const busy = [...byPackage.values()].reduce((a, b) => a + b, 0)
const line = ([name, count]: [string, number]) =>
  `${((micros * count) / busy).toFixed(2).padStart(6)} µs  ${((100 * count) / busy).toFixed(1).padStart(5)}%  ${name}`
console.log(`${mode}: ${micros.toFixed(2)} µs of CPU per frame over ${2 * frames} frames (${total} samples)`)
console.log("by package:")
for (const entry of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(line(entry))
console.log("by function:")
for (const entry of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(line(entry))
console.log(`profile: ${path.relative(process.cwd(), out)}`)

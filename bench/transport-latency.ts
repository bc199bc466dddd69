/**
 * The client's request round trips on its own WebSocket (`NodeTransport`) and on the `ws` library
 * (as it ran before: bench/wsTransport.ts), in one process against the stream server, beside a raw
 * `ws` client: the loops take turns request by request (flip: the `ws` one before the new one in
 * each turn), the first 2,000 of each after 250, then 10,000 more. Prints each p99 over the raw
 * p99 and the p50 overhead. `noraw`: without the raw client's loop (whose traffic also runs, and
 * so warms, `ws`'s code), the two clients' p99 and p50 in µs.
 *
 * Usage (after `pnpm build`): node --expose-gc --import tsx bench/transport-latency.ts [flip] [noraw]
 */
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { rawAuthenticated, rawRoundTrips, startStreamServer } from "./measure.js"
import * as WsTransport from "./wsTransport.js"

const flip = process.argv.includes("flip")
const noRaw = process.argv.includes("noraw")
const { port, child: server } = await startStreamServer(1)
const url = `ws://127.0.0.1:${port}`
const socket = await rawAuthenticated(url)
const pct = (xs: ReadonlyArray<number>, p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!

type Loops = Record<"raw" | "own" | "ws", Record<"ping" | "read_file", Array<number>>>

try {
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const own = yield* GatewayClient.make({ url, pingInterval: 0 }).pipe(Effect.provide(NodeTransport.layer))
        const ws = yield* GatewayClient.make({ url, pingInterval: 0 }).pipe(Effect.provide(WsTransport.layer))
        const clients = flip
          ? ([
              ["ws", ws],
              ["own", own]
            ] as const)
          : ([
              ["own", own],
              ["ws", ws]
            ] as const)
        const run = (n: number) =>
          Effect.gen(function* () {
            const loops: Loops = {
              raw: { ping: [], read_file: [] },
              own: { ping: [], read_file: [] },
              ws: { ping: [], read_file: [] }
            }
            for (let i = 0; i < n; i++) {
              for (const kind of ["ping", "read_file"] as const) {
                if (!noRaw) loops.raw[kind].push(...(yield* Effect.promise(() => rawRoundTrips(socket, kind, 1))))
                for (const [name, client] of clients) {
                  const start = performance.now()
                  yield* Effect.orDie(
                    kind === "ping" ? Effect.asVoid(client.ping) : Effect.asVoid(client.readFile("s-1", "a.ts"))
                  )
                  loops[name][kind].push((performance.now() - start) * 1000)
                }
              }
            }
            return loops
          })
        const report = (label: string, loops: Loops) => {
          const line = (name: "own" | "ws") =>
            (["ping", "read_file"] as const)
              .map(
                (kind) =>
                  `${kind} p99 ${(pct(loops[name][kind], 0.99) / pct(loops.raw[kind], 0.99)).toFixed(2)}x, p50 +${(pct(loops[name][kind], 0.5) - pct(loops.raw[kind], 0.5)).toFixed(0)} µs`
              )
              .join("; ")
          const absolute = (name: "own" | "ws") =>
            (["ping", "read_file"] as const)
              .map(
                (kind) =>
                  `${kind} p99 ${pct(loops[name][kind], 0.99).toFixed(0)} µs, p50 ${pct(loops[name][kind], 0.5).toFixed(0)} µs`
              )
              .join("; ")
          if (noRaw) console.log(`${label}: own WebSocket: ${absolute("own")} | on ws: ${absolute("ws")}`)
          else console.log(`${label}: own WebSocket: ${line("own")} | on ws: ${line("ws")}`)
        }
        yield* run(250)
        report("first 2,000", yield* run(2_000))
        report("the next 10,000", yield* run(10_000))
      })
    ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
  )
} finally {
  socket.close()
  server.kill()
}

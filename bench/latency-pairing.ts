/**
 * Why section 2 of `pnpm bench` has its request loops take turns request by request: in one
 * process, the four loops (raw and client, `ping` and `read_file`) measured alternately in blocks
 * of 250 (as section 2 did before) and request by request, three times each, after the same
 * warm-up. Prints each measurement's p99 ratio client / raw and p50 overhead. In blocks, a burst of
 * the machine's noise lands in one loop's block and moves that loop's p99 alone.
 *
 * Usage (after `pnpm build`): node --expose-gc --import tsx bench/latency-pairing.ts [requests per loop]
 */
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { rawAuthenticated, rawRoundTrips, startStreamServer } from "./measure.js"

const requests = Number(process.argv[2] ?? 2_000)
const { port, child: server } = await startStreamServer(1)
const url = `ws://127.0.0.1:${port}`

const socket = await rawAuthenticated(url)
const pct = (xs: Array<number>, p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!

try {
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* GatewayClient.make({ url, pingInterval: 0 })
        const ping = Effect.orDie(client.ping)
        const readFile = Effect.orDie(client.readFile("s-1", "a.ts"))
        const timed = (effect: Effect.Effect<unknown>, count: number, into: Array<number>) =>
          Effect.gen(function* () {
            for (let i = 0; i < count; i++) {
              const start = performance.now()
              yield* effect
              into.push((performance.now() - start) * 1000)
            }
          })
        const loops = () => ({
          rawPing: [] as Array<number>,
          ping: [] as Array<number>,
          rawReadFile: [] as Array<number>,
          readFile: [] as Array<number>
        })
        /** The four loops in turns of `block` requests each, `requests` of each in all. */
        const measure = (block: number) =>
          Effect.gen(function* () {
            const into = loops()
            for (let done = 0; done < requests; done += block) {
              into.rawPing.push(...(yield* Effect.promise(() => rawRoundTrips(socket, "ping", block))))
              yield* timed(ping, block, into.ping)
              into.rawReadFile.push(...(yield* Effect.promise(() => rawRoundTrips(socket, "read_file", block))))
              yield* timed(readFile, block, into.readFile)
            }
            return into
          })
        const report = (label: string, l: ReturnType<typeof loops>) => {
          const ratio = (a: Array<number>, b: Array<number>) => (pct(a, 0.99) / pct(b, 0.99)).toFixed(2)
          const over = (a: Array<number>, b: Array<number>) => (pct(a, 0.5) - pct(b, 0.5)).toFixed(0)
          console.log(
            `${label.padEnd(26)} p99 client/raw: ping ${ratio(l.ping, l.rawPing)}x, read_file ${ratio(l.readFile, l.rawReadFile)}x; p50 overhead ${over(l.ping, l.rawPing)} / ${over(l.readFile, l.rawReadFile)} µs`
          )
        }
        // Warm-up, a forced collection (as section 2 does), warm-up again.
        yield* measure(250)
        global.gc?.()
        yield* measure(250)
        for (let round = 1; round <= 3; round++) {
          report(`blocks of 250, ${round}`, yield* measure(250))
          report(`request by request, ${round}`, yield* measure(1))
        }
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
  )
} finally {
  socket.close()
  server.kill()
}

/**
 * Section 2's request loops alone (bench/streaming.ts's `latency`: the raw client and the client,
 * `ping` and `read_file`, request by request, the first 2,000 of each after a warm-up, then 10,000
 * more after 10,000), in a fresh process against the stream server; prints the p99 ratios and p50
 * overheads of both windows. Run it with and without V8's optimizing compiler to see what the
 * early tail is made of:
 *
 *   for i in 1 2 3 4 5; do
 *     node --expose-gc --import tsx bench/early-tail.ts
 *     node --expose-gc --max-opt=2 --import tsx bench/early-tail.ts   # no TurboFan (Maglev is off in Node 20)
 *   done
 *
 * Usage (after `pnpm build`): node --expose-gc [V8 flags] --import tsx bench/early-tail.ts [first] [warm] [steady]
 */
import { startStreamServer } from "./measure.js"
import { latency } from "./streaming.js"

const [first, warm, steady] = [2_000, 10_000, 10_000].map((fallback, i) => Number(process.argv[2 + i] ?? fallback))
const { port, child } = await startStreamServer(1)
try {
  const l = await latency(`ws://127.0.0.1:${port}`, first!, warm!, steady!)
  type Loops = Pick<typeof l, "rawPing" | "ping" | "rawReadFile" | "readFile">
  const line = (label: string, w: Loops) => {
    const ping = w.ping.p99 / w.rawPing.p99
    const readFile = w.readFile.p99 / w.rawReadFile.p99
    return `${label}: worse p99 ${Math.max(ping, readFile).toFixed(2)}x (ping ${w.ping.p99.toFixed(0)}/${w.rawPing.p99.toFixed(0)} µs, read_file ${w.readFile.p99.toFixed(0)}/${w.rawReadFile.p99.toFixed(0)} µs), p50 overhead ${(w.ping.p50 - w.rawPing.p50).toFixed(0)} / ${(w.readFile.p50 - w.rawReadFile.p50).toFixed(0)} µs`
  }
  console.log(`${line(`first ${first}`, l)}; ${line(`steady ${steady}`, l.steady)}`)
} finally {
  child.kill()
}

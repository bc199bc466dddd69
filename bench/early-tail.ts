/**
 * Section 2's request loops alone (bench/latency.ts's `latency`: the raw client and the client,
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
 * `alone`: the raw loops only, no client in the process (section 2 runs it so, `json`, for the raw
 * p99 that the client's own collections and compilation do not reach).
 *
 * Usage (after `pnpm build`): node --expose-gc [V8 flags] --import tsx bench/early-tail.ts [first] [warm] [steady] [alone] [json]
 */

import { latency } from "./latency.js"
import { startStreamServer } from "./measure.js"

const flags = process.argv.slice(2).filter((arg) => !/^\d+$/.test(arg))
const counts = process.argv.slice(2).filter((arg) => /^\d+$/.test(arg))
const [first, warm, steady] = [2_000, 10_000, 10_000].map((fallback, i) => Number(counts[i] ?? fallback))
const alone = flags.includes("alone")
const { port, child } = await startStreamServer(1)
try {
  const l = await latency(`ws://127.0.0.1:${port}`, first!, warm!, steady!, !alone)
  type Loops = Pick<typeof l, "rawPing" | "ping" | "rawReadFile" | "readFile">
  const line = (label: string, w: Loops) => {
    if (alone)
      return `${label}: raw p99 ping ${w.rawPing.p99.toFixed(0)} µs, read_file ${w.rawReadFile.p99.toFixed(0)} µs`
    const ping = w.ping.p99 / w.rawPing.p99
    const readFile = w.readFile.p99 / w.rawReadFile.p99
    return `${label}: worse p99 ${Math.max(ping, readFile).toFixed(2)}x (ping ${w.ping.p99.toFixed(0)}/${w.rawPing.p99.toFixed(0)} µs, read_file ${w.readFile.p99.toFixed(0)}/${w.rawReadFile.p99.toFixed(0)} µs), p50 overhead ${(w.ping.p50 - w.rawPing.p50).toFixed(0)} / ${(w.readFile.p50 - w.rawReadFile.p50).toFixed(0)} µs`
  }
  console.log(
    flags.includes("json") ? JSON.stringify(l) : `${line(`first ${first}`, l)}; ${line(`steady ${steady}`, l.steady)}`
  )
} finally {
  child.kill()
}

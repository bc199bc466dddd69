/**
 * `pnpm bench`: runs the benchmarks and writes bench/RESULTS.md. `pnpm bench --quick` (what CI
 * runs) uses small counts so the benchmarks never rot, and writes nothing.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { runCodecBench } from "./codec.js"
import { fmt } from "./measure.js"

const quick = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1"
const here = path.dirname(fileURLToPath(import.meta.url))
const lines: Array<string> = []
const out = (line = "") => {
  console.log(line)
  lines.push(line)
}

const versions = () => {
  const read = (pkg: string) => {
    try {
      const file = path.join(here, "..", "node_modules", pkg, "package.json")
      return JSON.parse(fs.readFileSync(file, "utf8")).version as string
    } catch {
      return "?"
    }
  }
  return `Node ${process.version}, effect ${read("effect")}, zod ${read("zod")}, @sinclair/typebox ${read("@sinclair/typebox")}`
}

out("# Benchmark results")
out()
out(`Command: \`pnpm bench\`${quick ? " --quick (smoke mode: small counts, not for reading)" : ""}. ${versions()}.`)
out(`Machine: ${process.env.BENCH_MACHINE ?? "2 cores, shared"}. Date: ${new Date().toISOString().slice(0, 10)}.`)
out()

{
  const result = runCodecBench(quick ? { frames: 2_000, rounds: 3 } : { frames: 50_000, rounds: 15 })
  out("## 1. Codec: decode and validate server event frames")
  out()
  out(
    `${result.frames} frames (${(result.bytes / 1024 / 1024).toFixed(1)} MiB): 80% text_delta, 10% tool events, the rest mixed, a few 200-session session_list. Frames per second over ${quick ? 3 : 15} interleaved rounds; ratio = median / median of JSON.parse alone.`
  )
  out()
  out("| contender | median frames/s | min | max | ratio to JSON.parse |")
  out("|---|---:|---:|---:|---:|")
  for (const row of result.rows) {
    const m = row.measurement
    out(`| ${row.name} | ${fmt(m.median)} | ${fmt(m.min)} | ${fmt(m.max)} | ${row.ratio.toFixed(2)}x |`)
  }
  out()
}

if (!quick) fs.writeFileSync(path.join(here, "RESULTS.md"), `${lines.join("\n")}\n`)

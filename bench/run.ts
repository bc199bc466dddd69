/**
 * `pnpm bench`: runs the benchmarks and writes bench/RESULTS.md. `pnpm bench --quick` (what CI
 * runs) uses small counts so the benchmarks never rot, and writes nothing. One section alone, on
 * the built packages (`pnpm build` first): `node --expose-gc --import tsx bench/run.ts --section
 * codec|client|resilience|gateway|cluster`.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { runClusterBench } from "./cluster.js"
import { runCodecBench } from "./codec.js"
import { runGatewayLoad } from "./gateway-load.js"
import { fmt, pairedRatio } from "./measure.js"
import { declared } from "./peers.js"
import { runFanOut, runRecovery, runStartup } from "./resilience.js"
import { sessionStateSection } from "./session-state.js"
import { runStreamingBench } from "./streaming.js"

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

const header = () => {
  out("# Benchmark results")
  out()
  out(`Command: \`pnpm bench\`${quick ? " --quick (smoke mode: small counts, not for reading)" : ""}. ${versions()}.`)
  out(
    "The packages are measured as published: their built JavaScript (`pnpm build`, which `pnpm bench` runs first). Each section runs in a fresh Node process."
  )
  out(`Machine: ${process.env.BENCH_MACHINE ?? "2 cores, shared"}. Date: ${new Date().toISOString().slice(0, 10)}.`)
  out()
}

// Each section runs in a fresh Node process, so one benchmark's JIT feedback and heap do not
// bias the next (the codec benchmark trains the decoder on a mix of 12 event types, the streaming
// one on text_delta alone).
const sections: Record<string, () => Promise<void>> = {
  codec: async () => {
    const result = runCodecBench(quick ? { frames: 2_000, rounds: 3 } : { frames: 50_000, rounds: 25 })
    out("## 1. Codec: decode and validate server event frames")
    out()
    out(
      `${result.frames} frames (${(result.bytes / 1024 / 1024).toFixed(1)} MiB): 80% text_delta, 10% tool events, the rest mixed, a few 200-session session_list. Frames per second of CPU time over ${quick ? 3 : 25} interleaved rounds; ratio = median / median of JSON.parse alone; per round = the ratio to JSON.parse within each round, median (min to max). Each peer declares the whole protocol, generated from its JSON Schema (bench/peers.ts): TypeBox the ${declared.typebox} members of the \`ServerEvent\` union in its order, zod a discriminated union of the ${declared.zod} known types.`
    )
    out()
    out("| contender | median frames/s | min | max | ratio to JSON.parse | per round |")
    out("|---|---:|---:|---:|---:|---:|")
    for (const row of result.rows) {
      const m = row.measurement
      const p = row.paired
      out(
        `| ${row.name} | ${fmt(m.median)} | ${fmt(m.min)} | ${fmt(m.max)} | ${row.ratio.toFixed(2)}x | ${p.median.toFixed(2)}x (${p.min.toFixed(2)} to ${p.max.toFixed(2)}) |`
      )
    }
    out()
  },
  client: async () => {
    const r = await runStreamingBench(
      quick
        ? { frames: 2_000, rounds: 2, latencyRounds: 50, inFlight: 500, idleClients: 20 }
        : { frames: 50_000, rounds: 7, latencyRounds: 2_000, inFlight: 10_000, idleClients: 1_000 }
    )
    out("## 2. Client: streaming throughput and request latency")
    out()
    out(
      `A minimal gateway in a child process streams ${r.frames} \`text_delta\` frames after \`join_session\`. Raw: a \`ws\` client that only \`JSON.parse\`s each frame. Client: @diminuendo/client over NodeTransport, the application draining \`sessionEvents\` (decoded, validated, deduplicated by seq). ${r.raw.samples.length} interleaved rounds; client CPU per frame from \`process.cpuUsage\`.`
    )
    out()
    out("| | median frames/s | min | max | CPU µs/frame (median) |")
    out("|---|---:|---:|---:|---:|")
    out(
      `| raw ws + JSON.parse (baseline) | ${fmt(r.raw.median)} | ${fmt(r.raw.min)} | ${fmt(r.raw.max)} | ${r.rawCpu.median.toFixed(2)} |`
    )
    out(
      `| @diminuendo/client sessionEvents | ${fmt(r.client.median)} | ${fmt(r.client.min)} | ${fmt(r.client.max)} | ${r.clientCpu.median.toFixed(2)} |`
    )
    out(
      `| ratio (client / raw) | ${(r.client.median / r.raw.median).toFixed(2)}x | | | ${(r.clientCpu.median / r.rawCpu.median).toFixed(2)}x |`
    )
    const fps = pairedRatio(r.client, r.raw)
    const cpu = pairedRatio(r.clientCpu, r.rawCpu)
    out(
      `| per-round ratio: median (min to max) | ${fps.median.toFixed(2)}x (${fps.min.toFixed(2)} to ${fps.max.toFixed(2)}) | | | ${cpu.median.toFixed(2)}x (${cpu.min.toFixed(2)} to ${cpu.max.toFixed(2)}) |`
    )
    out()
    const l = r.latency
    out(
      `Round trips, ${quick ? 50 : 2_000} sequential requests each, in alternating blocks of up to 250 after a warm-up, one connection per loop (µs):`
    )
    out()
    out("| | p50 | p99 | p50 overhead vs raw |")
    out("|---|---:|---:|---:|")
    out(`| raw ws ping/pong (baseline) | ${l.rawPing.p50.toFixed(0)} | ${l.rawPing.p99.toFixed(0)} | |`)
    out(
      `| client.ping | ${l.ping.p50.toFixed(0)} | ${l.ping.p99.toFixed(0)} | ${(l.ping.p50 - l.rawPing.p50).toFixed(0)} |`
    )
    out(
      `| raw ws read_file/file_content (baseline) | ${l.rawReadFile.p50.toFixed(0)} | ${l.rawReadFile.p99.toFixed(0)} | |`
    )
    out(
      `| client.readFile | ${l.readFile.p50.toFixed(0)} | ${l.readFile.p99.toFixed(0)} | ${(l.readFile.p50 - l.rawReadFile.p50).toFixed(0)} |`
    )
    out()
    out(
      `${r.inFlight.count} \`read_file\` requests in flight at once on one connection: ${r.inFlight.correct} resolved to their own reply in ${r.inFlight.seconds.toFixed(2)} s; peak heap growth ${r.inFlight.peakHeapDeltaMiB.toFixed(1)} MiB.`
    )
    out()
    const idle = r.idle
    out(
      `Idle clients (a fresh process on the built packages, after forced collections; baseline: Node with the client imported, ${idle.baseline.heapMiB.toFixed(1)} MiB heap, ${idle.baseline.rssMiB.toFixed(0)} MiB RSS): the first connected client adds (one-time initialisation included) ${idle.one.heapKiB.toFixed(1)} KiB of heap and ${idle.one.rssKiB.toFixed(0)} KiB of RSS; ${idle.many.count} of them add ${idle.many.heapKiBPerClient.toFixed(1)} KiB of heap and ${idle.many.rssKiBPerClient.toFixed(1)} KiB of RSS each.`
    )
    out()
  },
  resilience: async () => {
    const fan = await runFanOut(quick ? 10 : 100, quick ? 100 : 1_000)
    const recovery = await runRecovery(quick ? 2 : 10)
    const startup = await runStartup(quick ? 1 : 5)
    out("## 3. Fan-out, recovery, startup")
    out()
    out(
      `Fan-out: ${quick ? 10 : 100} sessions joined on one connection, ${quick ? 100 : 1_000} events each, one \`sessionEvents\` Stream per session: ${fan.events} events in ${fan.seconds.toFixed(2)} s (${fmt(fan.events / fan.seconds)} events/s), heap growth ${fan.heapDeltaMiB.toFixed(1)} MiB.`
    )
    out()
    out(
      `Recovery: ${recovery.drops} abrupt drops during a streaming turn over ws, reconnect delay 0: from the drop to the first event delivered on the new connection, median ${recovery.medianMs.toFixed(1)} ms, max ${recovery.maxMs.toFixed(1)} ms; events lost ${recovery.lost}, duplicated ${recovery.duplicated}, gaps ${recovery.gaps}.`
    )
    out()
    out(
      `Startup (fresh Node process, built JavaScript, median of ${quick ? 1 : 5}): import \`ws\` and connect ${startup.rawMs.toFixed(0)} ms; import @diminuendo/client and connect (handshake included) ${startup.clientMs.toFixed(0)} ms.`
    )
    out()
    if (recovery.lost > 0 || recovery.duplicated > 0) process.exitCode = 1
  },
  gateway: async () => {
    const connections = quick ? 50 : 1_000
    const r = await runGatewayLoad(connections)
    out("## 4. Testkit gateway under load")
    out()
    out(
      `${r.connections} concurrent clients on loopback (real ws, one process: gateway and clients), each creating a session and running an echo turn through @diminuendo/client: ${r.completed}/${r.connections} turns complete with the right text in ${r.seconds.toFixed(2)} s. Peak RSS ${r.peakRssMiB.toFixed(0)} MiB (baseline ${r.baselineRssMiB.toFixed(0)} MiB), peak heap ${r.peakHeapMiB.toFixed(0)} MiB.`
    )
    out()
    if (r.completed !== r.connections) process.exitCode = 1
  },
  sessionState: async () => {
    for (const line of sessionStateSection(quick)) out(line)
  },
  cluster: async () => {
    const r = await runClusterBench(quick)
    for (const line of r.lines) out(line)
    if (!r.ok) process.exitCode = 1
  }
}

const only = process.argv[process.argv.indexOf("--section") + 1]
if (process.argv.includes("--section")) {
  await sections[only!]!()
} else {
  header()
  for (const name of Object.keys(sections)) {
    const child = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const proc = spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), "--section", name, ...(quick ? ["--quick"] : [])],
        { stdio: ["ignore", "pipe", "inherit"] }
      )
      let stdout = ""
      proc.stdout.on("data", (chunk) => {
        stdout += chunk
      })
      proc.on("close", (code) => resolve({ code, stdout }))
    })
    for (const line of child.stdout.replace(/\n$/, "").split("\n")) out(line)
    if (child.code !== 0) process.exitCode = 1
  }
  out(fs.readFileSync(path.join(here, "ANALYSIS.md"), "utf8").trimEnd())

  if (!quick) fs.writeFileSync(path.join(here, "RESULTS.md"), `${lines.join("\n")}\n`)
}

/**
 * `pnpm bench`: runs the benchmarks and writes bench/RESULTS.md. `pnpm bench --quick` (what CI
 * runs) uses small counts so the benchmarks never rot, and writes nothing. One section alone, on
 * the built packages (`pnpm build` first): `node --expose-gc --import tsx bench/run.ts --section
 * codec|client|resilience|gateway|sessionState|cluster`. To see where the time goes: bench/profile-stream.ts
 * (CPU per streamed frame by package), bench/latency-tail.ts (request percentiles and collections) and
 * bench/early-tail.ts (section 2's request loops alone, to run with and without V8's optimizing compiler).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { runClusterBench } from "./cluster.js"
import { contenderNames, runCodecBench } from "./codec.js"
import { runGatewayLoad } from "./gateway-load.js"
import { fmt, type Measurement, pairedRatio } from "./measure.js"
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
    const rounds = quick ? 3 : 25
    const frames = quick ? 2_000 : 50_000
    out("## 1. Codec: decode and validate server event frames")
    out()
    out(
      `${frames} frames: 80% text_delta, 10% tool events, the rest mixed, a few 200-session session_list; two mixes that differ only in the text_delta texts: ours (40 ASCII characters each) and a realistic one (5 to 40 characters, one text in five with non-ASCII pieces, as a model streams them). Frames per second of CPU time over ${rounds} interleaved rounds; ratio = median / median of JSON.parse alone; per round = the ratio to JSON.parse within each round, median (min to max); bytes allocated on the heap per frame (parsing included) from V8's heap counters, median of 3 runs. Each peer declares the whole protocol, generated from its JSON Schema (bench/peers.ts): TypeBox by type has one compiled checker for each of the ${declared.typeboxTypes} known types and the catch-all, picked by the frame's \`type\` (the fair baseline); TypeBox's union checker tries the ${declared.typebox} members of the \`ServerEvent\` union in order (a weaker baseline, kept for comparison); zod a discriminated union of the ${declared.zod} known types.`
    )
    out()
    const targets: Array<string> = []
    for (const mix of ["ours", "realistic"] as const) {
      const result = runCodecBench({ frames, rounds, mix })
      out(
        `${mix === "ours" ? "Our mix" : "Realistic mix"}: ${(result.bytes / 1024 / 1024).toFixed(1)} MiB, ${(result.bytes / result.frames).toFixed(0)} bytes per frame on average.`
      )
      out()
      out("| contender | median frames/s | min | max | ratio to JSON.parse | per round | bytes/frame |")
      out("|---|---:|---:|---:|---:|---:|---:|")
      for (const row of result.rows) {
        const m = row.measurement
        const p = row.paired
        out(
          `| ${row.name} | ${fmt(m.median)} | ${fmt(m.min)} | ${fmt(m.max)} | ${row.ratio.toFixed(2)}x | ${p.median.toFixed(2)}x (${p.min.toFixed(2)} to ${p.max.toFixed(2)}) | ${row.bytesPerFrame.toFixed(0)} |`
        )
      }
      out()
      const typeboxRow = result.rows.find((row) => row.name === contenderNames.typeboxByType)!
      const label = mix === "ours" ? "our mix" : "realistic mix"
      for (const [name, api] of [
        [contenderNames.codecOrElse, "decodeOrElse"],
        [contenderNames.codec, "decode"]
      ] as const) {
        const codecRow = result.rows.find((row) => row.name === name)!
        targets.push(
          `| ${label}: codec (\`${api}\`) ≥ 0.95x JSON.parse (per-round median) | ${codecRow.paired.median.toFixed(2)}x | ${codecRow.paired.median >= 0.95 ? "yes" : "no"} |`,
          `| ${label}: codec (\`${api}\`) ahead of TypeBox by type (per-round medians) | ${codecRow.paired.median.toFixed(3)}x vs ${typeboxRow.paired.median.toFixed(3)}x | ${codecRow.paired.median > typeboxRow.paired.median ? "yes" : "no"} |`
        )
      }
    }
    out("Targets (issue 13), in this run:")
    out()
    out("| target | this run | met |")
    out("|---|---:|:---:|")
    for (const line of targets) out(line)
    out()
  },
  client: async () => {
    const r = await runStreamingBench(
      quick
        ? {
            frames: 2_000,
            rounds: 2,
            warmRounds: 1,
            latencyRounds: 50,
            latencyWarm: 100,
            latencySteady: 100,
            inFlight: 500,
            idleClients: 20
          }
        : {
            frames: 50_000,
            rounds: 12,
            warmRounds: 6,
            latencyRounds: 2_000,
            latencyWarm: 10_000,
            latencySteady: 10_000,
            inFlight: 10_000,
            idleClients: 1_000
          }
    )
    out("## 2. Client: streaming throughput and request latency")
    out()
    out(
      `A minimal gateway in a child process streams ${r.frames} \`text_delta\` frames after \`join_session\` (texts of the realistic mix: 5 to 40 characters, some non-ASCII). It is never the bottleneck: the frames are encoded once as WebSocket frames and written to the socket in 256 KiB chunks, waiting only for \`drain\`. Raw: a \`ws\` client that only \`JSON.parse\`s each frame (the baseline), or runs \`Codec.decodeOrElse\` on it (to tell the codec's share from the client's). Floor: the raw \`ws\` client running \`Codec.decodeOrElse\` and handing each event to an Effect \`Stream\` that wakes once per socket read, as the client's streams do, and nothing else (no sequencing, fan-out or requests): the least an Effect client on \`ws\` that validates can do (the client, which reads its socket with its own WebSocket, spends less). Client: @diminuendo/client over NodeTransport, the application draining \`sessionEvents\` (decoded, validated, deduplicated by seq). Raw on the client's own WebSocket: the client's transport (internal, not public API) with only \`JSON.parse\` above it: the client's ratio to it is what the client costs above its transport, which is not a baseline a user can pick. ${r.raw.samples.length} interleaved rounds, each starting with the next contender in turn, after one run of each and the early rounds (reported last: Effect's stream code is still being compiled then); CPU per frame from \`process.cpuUsage\`; frames per socket read from the \`data\` events of the client's TCP socket; heap bytes allocated per frame from V8's heap counters (everything the process allocates during the run), median over rounds.`
    )
    out()
    out("| | median frames/s | min | max | CPU µs/frame (median) | frames per socket read | heap bytes/frame |")
    out("|---|---:|---:|---:|---:|---:|---:|")
    out(
      `| raw ws + JSON.parse (baseline) | ${fmt(r.raw.median)} | ${fmt(r.raw.min)} | ${fmt(r.raw.max)} | ${r.rawCpu.median.toFixed(2)} | ${r.rawPerRead.toFixed(0)} | ${r.rawBytes.toFixed(0)} |`
    )
    out(
      `| raw ws + Codec.decodeOrElse | ${fmt(r.rawCodec.median)} | ${fmt(r.rawCodec.min)} | ${fmt(r.rawCodec.max)} | ${r.rawCodecCpu.median.toFixed(2)} | ${r.rawCodecPerRead.toFixed(0)} | ${r.rawCodecBytes.toFixed(0)} |`
    )
    out(
      `| floor: raw ws + Codec.decodeOrElse + an Effect Stream (nothing else) | ${fmt(r.floor.median)} | ${fmt(r.floor.min)} | ${fmt(r.floor.max)} | ${r.floorCpu.median.toFixed(2)} | ${r.floorPerRead.toFixed(0)} | ${r.floorBytes.toFixed(0)} |`
    )
    out(
      `| @diminuendo/client sessionEvents | ${fmt(r.client.median)} | ${fmt(r.client.min)} | ${fmt(r.client.max)} | ${r.clientCpu.median.toFixed(2)} | ${r.clientPerRead.toFixed(0)} | ${r.clientBytes.toFixed(0)} |`
    )
    out(
      `| raw on the client's own WebSocket + JSON.parse (the transport alone) | ${fmt(r.rawOwn.median)} | ${fmt(r.rawOwn.min)} | ${fmt(r.rawOwn.max)} | ${r.rawOwnCpu.median.toFixed(2)} | ${r.rawOwnPerRead.toFixed(0)} | ${r.rawOwnBytes.toFixed(0)} |`
    )
    out(
      `| ratio (client / raw) | ${(r.client.median / r.raw.median).toFixed(2)}x | | | ${(r.clientCpu.median / r.rawCpu.median).toFixed(2)}x | | |`
    )
    const fps = pairedRatio(r.client, r.raw)
    const cpu = pairedRatio(r.clientCpu, r.rawCpu)
    out(
      `| per-round ratio: median (min to max) | ${fps.median.toFixed(2)}x (${fps.min.toFixed(2)} to ${fps.max.toFixed(2)}) | | | ${cpu.median.toFixed(2)}x (${cpu.min.toFixed(2)} to ${cpu.max.toFixed(2)}) | | |`
    )
    const floorFps = pairedRatio(r.floor, r.raw)
    const floorCpu = pairedRatio(r.floorCpu, r.rawCpu)
    out(
      `| per-round ratio, floor / raw | ${floorFps.median.toFixed(2)}x (${floorFps.min.toFixed(2)} to ${floorFps.max.toFixed(2)}) | | | ${floorCpu.median.toFixed(2)}x (${floorCpu.min.toFixed(2)} to ${floorCpu.max.toFixed(2)}) | | |`
    )
    const aboveFps = pairedRatio(r.client, r.rawOwn)
    const aboveCpu = pairedRatio(r.clientCpu, r.rawOwnCpu)
    out(
      `| per-round ratio, client / raw on the client's own WebSocket (the client above its transport) | ${aboveFps.median.toFixed(2)}x (${aboveFps.min.toFixed(2)} to ${aboveFps.max.toFixed(2)}) | | | ${aboveCpu.median.toFixed(2)}x (${aboveCpu.min.toFixed(2)} to ${aboveCpu.max.toFixed(2)}) | | |`
    )
    const e = r.early
    const earlyRatio = (a: Measurement, b: Measurement) => {
      const x = pairedRatio(a, b)
      return `${x.median.toFixed(2)}x (${x.min.toFixed(2)} to ${x.max.toFixed(2)})`
    }
    out(
      `| early: the ${e.raw.fps.samples.length} rounds before these, client / raw | ${earlyRatio(e.client.fps, e.raw.fps)} | | | ${earlyRatio(e.client.cpu, e.raw.cpu)} | | |`
    )
    out(
      `| early, floor / raw | ${earlyRatio(e.floor.fps, e.raw.fps)} | | | ${earlyRatio(e.floor.cpu, e.raw.cpu)} | | |`
    )
    out()
    const l = r.latency
    out(
      `Round trips, the first ${quick ? 50 : "2,000"} sequential requests of each loop after a warm-up, one connection per loop, the four loops taking turns request by request (so that the machine's noise hits them alike; in blocks of 250, as measured before, a burst of noise moved one loop's p99 alone: bench/ANALYSIS.md) (µs; p99: the ${quick ? "highest" : "20th highest"} of ${quick ? 50 : "2,000"}):`
    )
    out()
    out("| | p50 | p99 | p50 overhead vs raw | p99 / raw p99 |")
    out("|---|---:|---:|---:|---:|")
    const row = (name: string, x: { p50: number; p99: number }, raw?: { p50: number; p99: number }) =>
      out(
        `| ${name} | ${x.p50.toFixed(0)} | ${x.p99.toFixed(0)} | ${raw === undefined ? "" : (x.p50 - raw.p50).toFixed(0)} | ${raw === undefined ? "" : `${(x.p99 / raw.p99).toFixed(2)}x`} |`
      )
    row("raw ws ping/pong (baseline)", l.rawPing)
    row("client.ping", l.ping, l.rawPing)
    row("raw ws read_file/file_content (baseline)", l.rawReadFile)
    row("client.readFile", l.readFile, l.rawReadFile)
    out()
    out(
      `The same loops after ${quick ? 100 : "10,000"} more round trips of each, ${quick ? 100 : "10,000"} of each (steady state: the JIT has compiled the client's and Effect's paths; early on, compilation and collections on the two cores make most of the client's tail, bench/ANALYSIS.md; p99: the ${quick ? "highest" : "100th highest"}):`
    )
    out()
    out("| | p50 | p99 | p50 overhead vs raw | p99 / raw p99 |")
    out("|---|---:|---:|---:|---:|")
    row("raw ws ping/pong (baseline)", l.steady.rawPing)
    row("client.ping", l.steady.ping, l.steady.rawPing)
    row("raw ws read_file/file_content (baseline)", l.steady.rawReadFile)
    row("client.readFile", l.steady.readFile, l.steady.rawReadFile)
    out()
    const alone = r.latencyAlone
    const over = (x: { p99: number }, raw: { p99: number }) => `${(x.p99 / raw.p99).toFixed(2)}x`
    out(
      `The raw loops alone, each time in a fresh process with no client running (bench/early-tail.ts \`alone\`: the client's collections and compilation cannot reach them), the lowest p99 of ${alone.processes} such processes (not paired with the client's loops, so the machine's noise during the client's run counts against it; their server is fresh, so the first window's figures include its warm-up and only the steady state is a strict baseline): first ${quick ? 50 : "2,000"} \`ping\` ${alone.rawPing.p99.toFixed(0)} µs, \`read_file\` ${alone.rawReadFile.p99.toFixed(0)} µs; steady state ${alone.steady.rawPing.p99.toFixed(0)} and ${alone.steady.rawReadFile.p99.toFixed(0)} µs. The client's p99 over these: first ${over(l.ping, alone.rawPing)} and ${over(l.readFile, alone.rawReadFile)}, steady state ${over(l.steady.ping, alone.steady.rawPing)} and ${over(l.steady.readFile, alone.steady.rawReadFile)}.`
    )
    out()
    out(
      `Heap bytes allocated per round trip (${quick ? 50 : 250} pings, V8's heap counters): raw ${l.bytes.rawPing.toFixed(0)}, client ${l.bytes.ping.toFixed(0)}.`
    )
    out()
    out(
      `${r.inFlight.count} \`read_file\` requests in flight at once on one connection: ${r.inFlight.correct} resolved to their own reply in ${r.inFlight.seconds.toFixed(2)} s; peak heap growth ${r.inFlight.peakHeapDeltaMiB.toFixed(1)} MiB.`
    )
    out()
    const idle = r.idle
    out(
      `Idle connections (a fresh process on the built packages, after forced collections; baseline: Node with the client imported, ${idle.baseline.heapMiB.toFixed(1)} MiB heap, ${idle.baseline.rssMiB.toFixed(0)} MiB RSS): the first connected client adds (one-time initialisation included) ${idle.one.heapKiB.toFixed(1)} KiB of heap and ${idle.one.rssKiB.toFixed(0)} KiB of RSS; ${idle.many.count} of them add ${idle.many.heapKiBPerClient.toFixed(1)} KiB of heap and ${idle.many.rssKiBPerClient.toFixed(1)} KiB of RSS each. ${r.idleRaw.many.count} raw \`ws\` sockets after the same handshake (the baseline): ${r.idleRaw.many.heapKiBPerClient.toFixed(1)} KiB of heap and ${r.idleRaw.many.rssKiBPerClient.toFixed(1)} KiB of RSS each.`
    )
    out()
    const p50 = Math.max(l.ping.p50 - l.rawPing.p50, l.readFile.p50 - l.rawReadFile.p50)
    const p99 = Math.max(l.ping.p99 / l.rawPing.p99, l.readFile.p99 / l.rawReadFile.p99)
    out("Targets (issue 13), in this run:")
    out()
    out("| target | this run | met |")
    out("|---|---:|:---:|")
    out(
      `| streaming ≥ 0.9x raw frames/s (per-round median) | ${fps.median.toFixed(2)}x | ${fps.median >= 0.9 ? "yes" : "no"} |`
    )
    out(
      `| CPU per frame ≤ 1.2x raw (per-round median) | ${cpu.median.toFixed(2)}x | ${cpu.median <= 1.2 ? "yes" : "no"} |`
    )
    const steadyP99 = Math.max(
      l.steady.ping.p99 / l.steady.rawPing.p99,
      l.steady.readFile.p99 / l.steady.rawReadFile.p99
    )
    const steadyP50 = Math.max(
      l.steady.ping.p50 - l.steady.rawPing.p50,
      l.steady.readFile.p50 - l.steady.rawReadFile.p50
    )
    out(
      `| request p99 ≤ 2x raw p99 (worse of the two), the first ${quick ? 50 : "2,000"} | ${p99.toFixed(2)}x | ${p99 <= 2 ? "yes" : "no"} |`
    )
    out(
      `| request p99 ≤ 2x raw p99 (worse of the two), steady state | ${steadyP99.toFixed(2)}x | ${steadyP99 <= 2 ? "yes" : "no"} |`
    )
    const aloneP99 = Math.max(
      l.steady.ping.p99 / alone.steady.rawPing.p99,
      l.steady.readFile.p99 / alone.steady.rawReadFile.p99
    )
    out(
      `| the same against the raw loops alone (the lowest of ${alone.processes} processes of their own; not paired), steady state | ${aloneP99.toFixed(2)}x | ${aloneP99 <= 2 ? "yes" : "no"} |`
    )
    out(`| request p50 overhead < 30 µs (worse of the two) | ${p50.toFixed(0)} µs | ${p50 < 30 ? "yes" : "no"} |`)
    out(
      `| request p50 overhead < 30 µs (worse of the two), steady state | ${steadyP50.toFixed(0)} µs | ${steadyP50 < 30 ? "yes" : "no"} |`
    )
    out(
      `| idle heap ≤ 25 KiB per client | ${idle.many.heapKiBPerClient.toFixed(1)} KiB | ${idle.many.heapKiBPerClient <= 25 ? "yes" : "no"} |`
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
      `${r.connections} concurrent clients on loopback (real ws, one process: gateway and clients), each creating a session and running an echo turn through @diminuendo/client: ${r.completed}/${r.connections} turns complete with the right text in ${r.seconds.toFixed(2)} s${r.failures > 0 ? ` (${r.failures} clients failed, the first with: ${r.firstFailure})` : ""}. Peak RSS ${r.peakRssMiB.toFixed(0)} MiB (baseline ${r.baselineRssMiB.toFixed(0)} MiB), peak heap ${r.peakHeapMiB.toFixed(0)} MiB.`
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

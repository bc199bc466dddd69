import { runStreamingBench } from "./streaming.js"

const r = await runStreamingBench({ frames: 50000, rounds: 5, latencyRounds: 500 })
console.log(
  JSON.stringify(
    {
      raw: r.raw.median,
      client: r.client.median,
      ratio: r.client.median / r.raw.median,
      cpuRaw: r.rawCpu.median,
      cpuClient: r.clientCpu.median,
      cpuRatio: r.clientCpu.median / r.rawCpu.median,
      lat: r.latency
    },
    null,
    1
  )
)

/**
 * What an Effect `Stream` costs per wake: a producer on `setImmediate` pushes CHUNK numbers and
 * wakes a consumer, which pulls them as one chunk (`Stream.repeatEffectChunkOption`, as the
 * client's streams do) through `Stream.take` and `Stream.runDrain`. Prints the CPU µs per wake
 * (`process.cpuUsage`, which counts V8's compiler threads too) for each of ROUNDS rounds of WAKES
 * wakes in one process: the first rounds run while the JIT compiles Effect's channel executor.
 *
 * Usage: node --import tsx bench/stream-wake.ts [chunk=536] [wakes=100] [rounds=8]
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { wakingBuffer } from "./measure.js"

const chunk = Number(process.argv[2] ?? 536)
const wakes = Number(process.argv[3] ?? 100)
const rounds = Number(process.argv[4] ?? 8)

const round = (): Promise<number> => {
  const buffer = wakingBuffer<number>()
  let produced = 0
  const produce = () => {
    for (let i = 0; i < chunk; i++) buffer.push(i)
    produced++
    buffer.wake()
    if (produced < wakes) setImmediate(produce)
  }
  setImmediate(produce)
  const cpu = process.cpuUsage()
  return Effect.runPromise(buffer.stream.pipe(Stream.take(chunk * wakes), Stream.runDrain)).then(() => {
    const used = process.cpuUsage(cpu)
    return (used.user + used.system) / wakes
  })
}
const perWake: Array<string> = []
for (let i = 0; i < rounds; i++) perWake.push((await round()).toFixed(0))
console.log(`chunks of ${chunk}, ${wakes} wakes per round: CPU µs per wake, round by round: ${perWake.join(", ")}`)

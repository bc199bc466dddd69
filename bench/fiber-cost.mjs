/**
 * Heap bytes per fiber waiting in `Effect.async` (forked into a scope, and as a daemon) and per
 * fiber sleeping, each over 10,000 fibers after forced collections: what a client pays for each
 * fiber it keeps per connection (bench/ANALYSIS.md, memory per idle client). Then, the same way, a
 * `Deferred` (pending and completed), an empty `Map` and an empty `Set`.
 *
 * Usage: node --expose-gc bench/fiber-cost.mjs
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

const n = 10_000
const heap = () => {
  global.gc()
  global.gc()
  return process.memoryUsage().heapUsed
}
const perFiber = (fork) =>
  Effect.gen(function* () {
    yield* fork
    yield* Effect.sleep(10)
    const before = heap()
    for (let i = 0; i < n; i++) yield* fork
    yield* Effect.sleep(10)
    return ((heap() - before) / n).toFixed(0)
  })
await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const waiting = Effect.async(() => {})
      console.log(
        `forked into a scope, waiting in Effect.async: ${yield* perFiber(Effect.forkIn(waiting, scope))} bytes`
      )
      console.log(`a daemon, waiting in Effect.async: ${yield* perFiber(Effect.forkDaemon(waiting))} bytes`)
      console.log(
        `forked into a scope, sleeping: ${yield* perFiber(Effect.forkIn(Effect.sleep("1 hour"), scope))} bytes`
      )
    })
  )
)
const perValue = (label, make) => {
  const keep = new Array(n)
  make()
  const before = heap()
  for (let i = 0; i < n; i++) keep[i] = make()
  console.log(`${label}: ${((heap() - before) / n).toFixed(0)} bytes`)
  return keep
}
perValue("a Deferred, pending", () => Deferred.unsafeMake(FiberId.none))
perValue("a Deferred, completed", () => {
  const deferred = Deferred.unsafeMake(FiberId.none)
  Deferred.unsafeDone(deferred, Exit.succeed(1))
  return deferred
})
perValue("an empty Map", () => new Map())
perValue("an empty Set", () => new Set())
process.exit(0)

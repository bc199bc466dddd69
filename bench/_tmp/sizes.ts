import * as Effect from "effect/Effect"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Deferred from "effect/Deferred"
import * as Scope from "effect/Scope"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Broadcast from "../../packages/client/src/internal/broadcast.js"
const N = 2000
const measure = (name: string, make: () => unknown) => {
  const keep: unknown[] = []
  global.gc!(); global.gc!()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < N; i++) keep.push(make())
  global.gc!(); global.gc!()
  const after = process.memoryUsage().heapUsed
  console.log(name.padEnd(40), ((after - before) / N).toFixed(0), "bytes")
  return keep
}
const scope = Effect.runSync(Scope.make())
measure("SubscriptionRef.make", () => Effect.runSync(SubscriptionRef.make(1)))
measure("Ref.make", () => Effect.runSync(Ref.make(1)))
measure("Deferred.make", () => Effect.runSync(Deferred.make<number>()))
measure("Scope.make", () => Effect.runSync(Scope.make()))
measure("Broadcast.make", () => Broadcast.make<number>())
measure("fiber waiting on async", () => Effect.runFork(Effect.async<void>(() => {})))
measure("fiber sleeping 1h", () => Effect.runFork(Effect.sleep("1 hour")))
measure("fiber in scope awaiting async", () => Effect.runSync(Effect.forkIn(Effect.async<void>(() => {}), scope)))
measure("Stream.unwrapScoped value", () => Stream.unwrapScoped(Effect.succeed(Stream.empty)))
measure("closure", () => () => 1)

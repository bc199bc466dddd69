/**
 * Memory of idle connections, in a fresh Node process on the built packages (as published): heap
 * and RSS beyond the runtime's own baseline (Node with the client and Effect imported) for one
 * connection, then per connection for `count` of them. `kind` is `client` (@diminuendo/client,
 * connected and authenticated) or `raw` (a `ws` socket that has read the same handshake), the
 * baseline. Prints one JSON line.
 *
 * Usage: node --expose-gc bench/idle-clients.mjs <ws-url> <count> [client|raw]
 */
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import WebSocket from "ws"

const [url, countText, kind = "client"] = process.argv.slice(2)
const count = Number(countText)
const settle = Effect.promise(async () => {
  await new Promise((resolve) => setTimeout(resolve, 200))
  global.gc()
  await new Promise((resolve) => setTimeout(resolve, 50))
  global.gc()
  return process.memoryUsage()
})

/** A raw socket, once the gateway has authenticated it; closed with the scope. */
const rawSocket = Effect.acquireRelease(
  Effect.async((resume) => {
    const socket = new WebSocket(url)
    socket.on("message", (data) => {
      if (JSON.parse(data.toString()).type === "authenticated") resume(Effect.succeed(socket))
    })
  }),
  (socket) => Effect.sync(() => socket.close())
)
const connect = kind === "raw" ? rawSocket : GatewayClient.make({ url, pingInterval: 0 })

const result = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const base = yield* settle
      yield* connect
      const one = yield* settle
      yield* Effect.forEach(Array.from({ length: count - 1 }), () => connect, { concurrency: 50, discard: true })
      const many = yield* settle
      const kib = (bytes) => bytes / 1024
      return {
        baseline: { heapMiB: base.heapUsed / 1024 / 1024, rssMiB: base.rss / 1024 / 1024 },
        one: { heapKiB: kib(one.heapUsed - base.heapUsed), rssKiB: kib(one.rss - base.rss) },
        many: {
          count,
          heapKiBPerClient: kib(many.heapUsed - base.heapUsed) / count,
          rssKiBPerClient: kib(many.rss - base.rss) / count
        }
      }
    })
  ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
)
console.log(JSON.stringify(result))

/**
 * Fan-out (many sessions on one connection), recovery after an abrupt drop, and startup, each next
 * to its baseline measured in the same run.
 */

import { execFile, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Gateway, WsServer } from "@diminuendo/testkit"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

const here = path.dirname(fileURLToPath(import.meta.url))

/** 100 sessions joined on one connection, 1,000 events each, one Stream per session. */
export const runFanOut = (sessions: number, perSession: number) =>
  new Promise<{ seconds: number; events: number; heapDeltaMiB: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "stream-server.ts")], {
      env: { ...process.env, FRAMES: "1", FANOUT: String(perSession) },
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.stdout!.once("data", (data) => {
      const url = `ws://127.0.0.1:${Number(String(data).trim())}`
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const client = yield* GatewayClient.make({ url, pingInterval: 0, eventBuffer: perSession + 10 })
            global.gc?.()
            const heapBefore = process.memoryUsage().heapUsed
            const ids = Array.from({ length: sessions }, (_, i) => `fan-${i}`)
            const start = performance.now()
            const consumers = yield* Effect.forEach(ids, (id) =>
              Effect.fork(Stream.runCount(Stream.take(client.sessionEvents(id), perSession)))
            )
            yield* Effect.forEach(ids, (id) => client.joinSession(id), { concurrency: "unbounded", discard: true })
            const counts = yield* Fiber.joinAll(consumers)
            const seconds = (performance.now() - start) / 1000
            const heapDeltaMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024
            return { seconds, events: counts.reduce((a, b) => a + b, 0), heapDeltaMiB }
          })
        ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Warning))
      ).then(
        (result) => {
          child.kill()
          resolve(result)
        },
        (error) => {
          child.kill()
          reject(error)
        }
      )
    })
  })

/** Abrupt drops during a streaming turn with a zero reconnect delay: time to the first resumed event, and losses. */
export const runRecovery = (drops: number) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({ agentStepMs: 2, heartbeatIntervalMs: 0 })
        const server = yield* WsServer.serve(gateway)
        const client = yield* GatewayClient.make({
          url: server.url,
          pingInterval: 0,
          reconnectSchedule: Schedule.spaced(0)
        })
        const session = yield* client.createSession("echo")
        yield* client.joinSession(session.id)
        const times: Array<number> = []
        let dropAt: number | undefined
        let reconnected = false
        yield* client.state.changes.pipe(
          Stream.runForEach((state) =>
            Effect.sync(() => {
              if (state._tag === "Connected" && dropAt !== undefined) reconnected = true
            })
          ),
          Effect.fork
        )
        // Long enough for every drop and its recovery, at 2 ms a word.
        const text = Array.from({ length: 200 * (drops + 1) }, (_, i) => `w${i}`).join(" ")
        const seqs: Array<number> = []
        const consumer = yield* client.sessionEvents(session.id).pipe(
          Stream.takeUntil((item) => item.type === "turn_complete"),
          Stream.runForEach((item) =>
            Effect.sync(() => {
              // The first event delivered once the new connection is up: the resume worked.
              if (dropAt !== undefined && reconnected) {
                times.push(performance.now() - dropAt)
                dropAt = undefined
                reconnected = false
              }
              seqs.push(item.type === "gap" ? -1 : item.seq)
            })
          ),
          Effect.fork
        )
        yield* client.runTurn(session.id, text)
        for (let i = 0; i < drops; i++) {
          // The next drop waits for the previous one's recovery (an event delivered on a live
          // connection), up to 5 s: on a loaded machine a drop can land while the client reconnects.
          for (let waited = 0; waited < 5_000 && dropAt !== undefined; waited += 5) yield* Effect.sleep("5 millis")
          yield* Effect.sleep("40 millis")
          const [control] = yield* gateway.connections
          if (control === undefined || consumer.unsafePoll() !== null) break
          dropAt = performance.now()
          reconnected = false
          yield* control.drop()
        }
        yield* Fiber.join(consumer)
        const log = (yield* gateway.sessionLog(session.id))
          .map((e) => e.seq)
          .filter((s) => s >= seqs[0]! && s <= seqs[seqs.length - 1]!)
        const lost = log.filter((s) => !seqs.includes(s)).length
        const duplicated = seqs.length - new Set(seqs).size
        const sorted = [...times].sort((a, b) => a - b)
        return {
          drops: times.length,
          medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
          maxMs: sorted[sorted.length - 1] ?? Number.NaN,
          lost,
          duplicated,
          gaps: seqs.filter((s) => s === -1).length
        }
      })
    ).pipe(Effect.provide(NodeTransport.layer), Logger.withMinimumLogLevel(LogLevel.Error))
  )

/**
 * Time for a fresh Node process to import the client (built JavaScript, as published) and connect,
 * next to importing `ws` and connecting.
 */
export const runStartup = (rounds: number) => {
  return Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
        const server = yield* WsServer.serve(gateway)
        const script = (kind: "raw" | "client") =>
          kind === "raw"
            ? `const t=performance.now();const {default:W}=await import("ws");const s=new W(${JSON.stringify(server.url)});s.on("message",()=>{console.log(performance.now()-t);process.exit(0)})`
            : `const t=performance.now();const {GatewayClient,NodeTransport}=await import("@diminuendo/client");const {Effect}=await import("effect");await Effect.runPromise(Effect.scoped(GatewayClient.make({url:${JSON.stringify(server.url)},pingInterval:0})).pipe(Effect.provide(NodeTransport.layer)));console.log(performance.now()-t);process.exit(0)`
        // Asynchronous: the gateway answering the child runs in this process.
        const time = async (kind: "raw" | "client") => {
          const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script(kind)], {
            cwd: path.join(here, "..", "packages", "client"),
            encoding: "utf8"
          })
          return Number(stdout.trim().split("\n").pop())
        }
        const raw: Array<number> = []
        const client: Array<number> = []
        yield* Effect.promise(async () => {
          for (let i = 0; i < rounds; i++) {
            raw.push(await time("raw"))
            client.push(await time("client"))
          }
        })
        const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
        return { rawMs: median(raw), clientMs: median(client) }
      })
    )
  )
}

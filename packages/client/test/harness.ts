/**
 * Runs client tests against the testkit gateway in memory and over a real ws server on a random
 * loopback port.
 */
import { Gateway, InMemory, WsServer } from "@diminuendo/testkit"
import * as Socket from "@effect/platform/Socket"
import { assert } from "@effect/vitest"
import type * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import WebSocket from "ws"
import * as GatewayClient from "../src/GatewayClient.js"
import type { GatewayError } from "../src/GatewayError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Transport from "../src/Transport.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"

export interface Setup {
  readonly gateway: Gateway.Gateway
  /** Builds a client connected to the gateway; it closes with the test's scope. */
  readonly client: (
    options?: Partial<GatewayClient.GatewayClientOptions>
  ) => Effect.Effect<GatewayClient.GatewayClient, GatewayError, Scope.Scope>
}

export interface Harness {
  readonly name: string
  /** The gateway profile every setup uses (unless the options say otherwise). */
  readonly profile: "full" | "seed"
  readonly setup: (options?: Gateway.GatewayOptions) => Effect.Effect<Setup, never, Scope.Scope>
}

/** The same harness against the gateway the seeds describe (`profile: "seed"`). */
export const seedProfile = (harness: Harness): Harness => ({
  name: `${harness.name}, seed profile`,
  profile: "seed",
  setup: (options) => harness.setup({ profile: "seed", ...options })
})

export const inMemory: Harness = {
  name: "in memory",
  profile: "full",
  setup: (options) =>
    Effect.map(Gateway.make(options), (gateway) => ({
      gateway,
      client: (clientOptions) =>
        GatewayClient.make({ url: "memory://gateway", pingInterval: 0, ...clientOptions }).pipe(
          Effect.provideService(Transport.Transport, { open: () => InMemory.connect(gateway) })
        )
    }))
}

/** A gateway on a real ws server, and clients over the given transport layer. */
const overSocket = (name: string, transport: Layer.Layer<Transport.Transport>): Harness => ({
  name,
  profile: "full",
  setup: (options) =>
    Effect.gen(function* () {
      const gateway = yield* Gateway.make(options)
      const server = yield* Effect.orDie(WsServer.serve(gateway))
      return {
        gateway,
        client: (clientOptions) =>
          GatewayClient.make({ url: server.url, pingInterval: 0, ...clientOptions }).pipe(Effect.provide(transport))
      }
    })
})

export const overWs = overSocket("over ws", NodeTransport.layer)

/** The standard WebSocket API (what browsers, Bun and Deno have), here backed by `ws`'s class. */
export const overStandardWebSocket = overSocket(
  "over the standard WebSocket API",
  WebSocketTransport.layer.pipe(
    Layer.provide(
      Layer.succeed(Socket.WebSocketConstructor, (url: string) => new WebSocket(url) as unknown as globalThis.WebSocket)
    )
  )
)

export const harnesses = [inMemory, overWs, overStandardWebSocket, seedProfile(inMemory), seedProfile(overWs)] as const

/** An echo turn being watched: what the session stream delivers, collected until `turn_complete`. */
export interface WatchedTurn {
  readonly sessionId: string
  readonly text: string
  readonly items: Fiber.RuntimeFiber<Chunk.Chunk<GatewayClient.SessionItem>, GatewayError | Cause.TimeoutException>
}

/** Creates and joins an echo session and starts collecting its stream until `turn_complete`. */
export const watchSession = (client: GatewayClient.GatewayClient) =>
  Effect.gen(function* () {
    const session = yield* client.createSession("echo")
    yield* client.joinSession(session.id)
    const items = yield* (yield* client.subscribeSession(session.id)).pipe(
      Stream.takeUntil((item) => item.type === "turn_complete"),
      Stream.runCollect,
      Effect.timeout("10 seconds"),
      Effect.fork
    )
    return { sessionId: session.id, items }
  })

/** {@link watchSession}, then a turn of `words` words. */
export const watchEchoTurn = (client: GatewayClient.GatewayClient, words: number) =>
  Effect.gen(function* () {
    const { sessionId, items } = yield* watchSession(client)
    const text = Array.from({ length: words }, (_, i) => `w${i}`).join(" ")
    yield* client.runTurn(sessionId, text)
    return { sessionId, text, items } satisfies WatchedTurn
  })

/**
 * What the session stream must hold once the turn is over, whatever happened to the connection: no
 * gap, every event of the log once and in order from the turn's `turn_started` through its
 * `turn_complete`, and the whole echoed text.
 */
export const expectWholeEchoTurn = (gateway: Gateway.Gateway, turn: WatchedTurn) =>
  Effect.gen(function* () {
    const items = Chunk.toReadonlyArray(yield* Fiber.join(turn.items))
    const seqs = items.map((item) => (item.type === "gap" ? -1 : item.seq))
    assert.notInclude(seqs, -1, "no gap: the log retains everything")
    assert.strictEqual(items[0]?.type, "turn_started")
    const log = (yield* gateway.sessionLog(turn.sessionId)).map((e) => e.seq)
    assert.deepStrictEqual(
      seqs,
      log.filter((seq) => seq >= seqs[0]! && seq <= seqs[seqs.length - 1]!)
    )
    const last = items[items.length - 1]!
    assert.strictEqual(last.type === "turn_complete" && last.finalText, `Echo: ${turn.text}`)
  })

/** Collects the next `count` distinct connection states (tags), current one first. */
export const watchStates = (client: GatewayClient.GatewayClient, count: number) =>
  client.state.changes.pipe(
    Stream.map((state) => state._tag),
    Stream.changes,
    Stream.take(count),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.fork
  )

/**
 * What an idle client keeps running: each fiber and its FiberRefs are ~4 KB, more than the rest of
 * an idle client's state (bench/ANALYSIS.md, memory per idle client). Over the client's own
 * transports no fiber waits on a connection: frames reach the client from the socket's callback,
 * and a fiber is forked only for the rare work a frame asks for and for what follows the close.
 * Over a transport whose `run` is its own, one fiber reads, and carries the reconnect loop after the
 * close. The timers run on one JavaScript timer under the live clock.
 */

import { Gateway, WsServer } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Supervisor from "effect/Supervisor"
import * as GatewayClient from "../src/GatewayClient.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Transport from "../src/Transport.js"
import { inMemory, overStandardWebSocket, overWs, watchStates } from "./harness.js"

/** The fibers forked while building the client (and by those fibers) that are still running. */
const running = (supervisor: Supervisor.Supervisor<Array<Fiber.RuntimeFiber<unknown, unknown>>>) =>
  Effect.flatMap(supervisor.value, (fibers) =>
    Effect.map(
      Effect.forEach(fibers, (fiber) => Fiber.status(fiber)),
      (statuses) => statuses.filter((status) => status._tag !== "Done").length
    )
  )

describe("an idle client", () => {
  // Over sockets: in memory, the gateway's side of the connection runs in fibers of the client's tree.
  for (const harness of [overWs, overStandardWebSocket]) {
    for (const pingInterval of [0, 30_000]) {
      it.scopedLive(
        `${harness.name}, keepalive ${pingInterval === 0 ? "off" : "on"}: no fiber runs while connected, none after a reconnect`,
        () =>
          Effect.gen(function* () {
            const { client, gateway } = yield* harness.setup({ heartbeatIntervalMs: 0 })
            const supervisor = yield* Supervisor.track
            const c = yield* client({
              pingInterval: Duration.millis(pingInterval),
              reconnectSchedule: Schedule.spaced("10 millis")
            }).pipe(Effect.supervised(supervisor))
            yield* Effect.sleep("50 millis")
            assert.strictEqual(yield* running(supervisor), 0)
            // It still works: requests, and the reconnect the reader carries.
            assert.isAtLeast((yield* c.ping).latencyMs, 0)
            const states = yield* watchStates(c, 4)
            const [first] = yield* gateway.connections
            yield* first!.drop(4000)
            assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
            yield* Effect.sleep("50 millis")
            assert.strictEqual(yield* running(supervisor), 0)
            assert.isAtLeast((yield* c.ping).latencyMs, 0)
          })
      )
    }
  }

  it.scopedLive(
    "over a transport whose run is its own (ws underneath): one fiber reads, one after a reconnect (a reader defect: Hostile.test.ts)",
    () =>
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({ heartbeatIntervalMs: 0 })
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        const ws = yield* Effect.provide(Transport.Transport, NodeTransport.layer)
        // The same connections, with `run` wrapped: the client cannot read them without a fiber.
        const transport: Transport.Transport["Type"] = {
          open: (request) =>
            Effect.map(ws.open(request), (connection) => ({ ...connection, run: (h) => connection.run(h) }))
        }
        const supervisor = yield* Supervisor.track
        const c = yield* GatewayClient.make({
          url: server.url,
          pingInterval: 0,
          reconnectSchedule: Schedule.spaced("10 millis")
        }).pipe(Effect.provideService(Transport.Transport, transport), Effect.supervised(supervisor))
        yield* Effect.sleep("50 millis")
        assert.strictEqual(yield* running(supervisor), 1)
        const states = yield* watchStates(c, 4)
        const [first] = yield* gateway.connections
        yield* first!.drop(4000)
        assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting", "Connecting", "Connected"])
        yield* Effect.sleep("50 millis")
        assert.strictEqual(yield* running(supervisor), 1)
        assert.isAtLeast((yield* c.ping).latencyMs, 0)
      })
  )

  it.scopedLive("closing the client's scope while it reconnects leaves no fiber running", () =>
    Effect.gen(function* () {
      const { client, gateway } = yield* overWs.setup({ heartbeatIntervalMs: 0 })
      const supervisor = yield* Supervisor.track
      const closed = yield* Effect.scoped(
        Effect.gen(function* () {
          const c = yield* client({ reconnectSchedule: Schedule.spaced("1 hour") }).pipe(Effect.supervised(supervisor))
          const states = yield* watchStates(c, 2)
          const [first] = yield* gateway.connections
          yield* first!.drop(4000)
          assert.deepStrictEqual(yield* Fiber.join(states), ["Connected", "Reconnecting"])
          return c
        })
      )
      assert.strictEqual(yield* running(supervisor), 0)
      assert.strictEqual((yield* closed.state.get)._tag, "Closed")
    })
  )

  it.scopedLive(
    "under the live clock (timers on a JavaScript timer): a request never answered fails at its deadline",
    () =>
      Effect.gen(function* () {
        const { client, gateway } = yield* inMemory.setup({ heartbeatIntervalMs: 0 })
        const c = yield* client({ requestTimeout: "200 millis", silenceTimeout: 0 })
        yield* gateway.faults.stall("pong")
        const start = Date.now()
        const result = yield* Effect.either(c.ping)
        const took = Date.now() - start
        assert.isTrue(Either.isLeft(result))
        assert.strictEqual(Either.flip(result).pipe(Either.getOrThrow).reason, "RequestTimeout")
        assert.isAtLeast(took, 190)
        assert.isBelow(took, 2000)
        // The next request has its own deadline, and an answered one is not failed by it.
        yield* gateway.faults.stall("session_list")
        const stalled = yield* Effect.fork(Effect.either(c.listSessions()))
        yield* Effect.sleep("100 millis")
        const late = yield* Fiber.join(stalled)
        assert.strictEqual(Either.flip(late).pipe(Either.getOrThrow).reason, "RequestTimeout")
      })
  )
})

import { Gateway, InMemory } from "@diminuendo/testkit"
import { assert, describe, expectTypeOf, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as GatewayClient from "../src/GatewayClient.js"
import { GatewayError, type GatewayErrorOf, type GatewayErrorReason } from "../src/GatewayError.js"

const reasons = [
  "ConnectionFailed",
  "AuthRequired",
  "AuthFailed",
  "RequestTimeout",
  "NotConnected",
  "ConnectionLost",
  "ServerError",
  "ProtocolError",
  "TurnFailed",
  "SlowConsumer",
  "Closed",
  "IncompatibleProtocol"
] as const satisfies ReadonlyArray<GatewayErrorReason>
// Fails to compile when a reason is added to GatewayErrorReason and not to the table.
const everyReason: [Exclude<GatewayErrorReason, (typeof reasons)[number]>] extends [never] ? true : false = true

const errorOf = (reason: GatewayErrorReason) => new GatewayError({ reason, message: `failed: ${reason}` })

describe("GatewayError: catching one reason", () => {
  it("the table holds every reason", () => assert.isTrue(everyReason))

  for (const reason of reasons) {
    it(`is("${reason}") holds for that reason only; catchReason("${reason}") recovers from it and lets the others through unchanged`, ({
      task
    }) => {
      Object.assign(task.meta, { table: "GatewayError reasons" })
      const others = reasons.filter((r) => r !== reason)
      assert.isTrue(GatewayError.is(reason)(errorOf(reason)))
      for (const other of others) {
        assert.isFalse(GatewayError.is(reason)(errorOf(other)), other)
        assert.isTrue(GatewayError.is(reason, other)(errorOf(other)), other)
      }
      // Only the class: a look-alike object, another error, nothing at all.
      for (const value of [{ _tag: "GatewayError", reason, message: "" }, new Error(reason), undefined, reason])
        assert.isFalse(GatewayError.is(reason)(value))

      const recover = (error: GatewayError) =>
        Effect.runSyncExit(
          Effect.fail(error).pipe(GatewayError.catchReason(reason, (caught) => Effect.succeed(caught)))
        )
      const own = errorOf(reason)
      // The handler gets the error itself.
      assert.strictEqual(
        Exit.getOrElse(recover(own), () => null),
        own
      )
      for (const other of others) {
        const error = errorOf(other)
        assert.deepStrictEqual(recover(error), Exit.fail(error), other)
      }
      // Data-first, as Effect.catchTag allows.
      assert.deepStrictEqual(
        Effect.runSyncExit(GatewayError.catchReason(Effect.fail(own), reason, () => Effect.succeed("caught"))),
        Exit.succeed("caught")
      )
    })
  }

  it("catchReason catches neither defects nor other error types", () => {
    const defect = Effect.runSyncExit(
      Effect.die(errorOf("Closed")).pipe(GatewayError.catchReason("Closed", () => Effect.succeed("caught")))
    )
    assert.isTrue(Exit.isFailure(defect) && defect.cause._tag === "Die")
    const other = Effect.runSyncExit(
      Effect.fail({ _tag: "GatewayError", reason: "Closed" } as const).pipe(
        GatewayError.catchReason("Closed", () => Effect.succeed("caught"))
      )
    )
    assert.isTrue(Exit.isFailure(other) && other.cause._tag === "Fail")
  })

  it("the handler sees the narrowed reason; the remaining error type is unchanged", () => {
    const program = Effect.fail(errorOf("ServerError")).pipe(
      Effect.catchIf(GatewayError.is("RequestTimeout", "ConnectionLost"), (e) => {
        expectTypeOf(e.reason).toEqualTypeOf<"RequestTimeout" | "ConnectionLost">()
        return Effect.succeed(0)
      }),
      GatewayError.catchReason("ServerError", (e) => {
        expectTypeOf(e).toEqualTypeOf<GatewayErrorOf<"ServerError">>()
        return Effect.succeed(e.code ?? "no code")
      })
    )
    expectTypeOf(program).toEqualTypeOf<Effect.Effect<number | string, GatewayError>>()
    assert.deepStrictEqual(Effect.runSyncExit(program), Exit.succeed("no code"))
  })
})

const TestLayer = GatewayClient.layer({ url: "memory://", pingInterval: 0, silenceTimeout: 0 }).pipe(
  Layer.provideMerge(InMemory.layer({ agentStepMs: 0, heartbeatIntervalMs: 0 }))
)

layer(TestLayer)("GatewayError reasons from a client", (it) => {
  it.effect("a request the gateway refuses is caught by catchReason('ServerError') with the gateway's code", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const code = yield* client.joinSession("no-such-session").pipe(
        Effect.as("joined"),
        GatewayError.catchReason("ServerError", (e) => Effect.succeed(e.code))
      )
      assert.strictEqual(code, "SESSION_NOT_FOUND")
    })
  )

  it.effect("a ping the gateway never answers is caught by catchIf(is('RequestTimeout')) at its deadline", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const gateway = yield* Gateway.Gateway
      yield* gateway.faults.stopPongs
      const ping = yield* Effect.fork(
        client.ping.pipe(
          Effect.map((pong) => pong.latencyMs),
          Effect.catchIf(GatewayError.is("RequestTimeout"), (e) => Effect.succeed(e.message))
        )
      )
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Fiber.join(ping), "Request timeout for ping")
      yield* gateway.faults.clear
    })
  )
})

import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Transport from "../src/Transport.js"

const setup = (highWaterMark = 4) => {
  const signals: Array<"full" | "drained"> = []
  const driver = Transport.makeConnection({
    send: () => Effect.void,
    close: () => Effect.void,
    maxHeldFrames: highWaterMark,
    onFull: () => signals.push("full"),
    onDrained: () => signals.push("drained")
  })
  const inbound = { frame: driver.receive, close: driver.closed, run: driver.connection.run }
  return { inbound, signals }
}

describe("inbound frames (socket transports)", () => {
  it.live("frames that arrive before run are handed over first, in order, then the rest as they come", () =>
    Effect.gen(function* () {
      const { inbound } = setup(100)
      const seen: Array<string> = []
      const calls: Array<number> = []
      inbound.frame("a")
      inbound.frame("b")
      const reader = yield* Effect.fork(
        inbound.run((frames) => {
          calls.push(frames.length)
          seen.push(...(frames as ReadonlyArray<string>))
          return undefined
        })
      )
      yield* Effect.yieldNow()
      assert.deepStrictEqual(seen, ["a", "b"])
      // Once the reader waits, a frame is handled inside the socket's callback, before it returns.
      inbound.frame("c")
      assert.deepStrictEqual(seen, ["a", "b", "c"])
      inbound.close({ code: 1000, reason: "bye" })
      assert.deepStrictEqual(yield* Fiber.join(reader), { code: 1000, reason: "bye" })
      assert.deepStrictEqual(calls, [2, 1])
    })
  )

  it.live("while an Effect a frame asked for runs, later frames wait, and the socket is paused past the bound", () =>
    Effect.gen(function* () {
      const { inbound, signals } = setup(3)
      const gate = yield* Deferred.make<void>()
      const seen: Array<string> = []
      const reader = yield* Effect.fork(
        inbound.run((frames) => {
          seen.push(...(frames as ReadonlyArray<string>))
          return frames.includes("slow") ? Deferred.await(gate) : undefined
        })
      )
      yield* Effect.yieldNow()
      inbound.frame("slow")
      for (const frame of ["1", "2", "3", "4"]) inbound.frame(frame)
      assert.deepStrictEqual(seen, ["slow"])
      assert.deepStrictEqual(signals, ["full"])
      inbound.close({ code: 1006, reason: "" })
      yield* Deferred.succeed(gate, undefined)
      // The close comes after every frame received before it.
      assert.deepStrictEqual(yield* Fiber.join(reader), { code: 1006, reason: "" })
      assert.deepStrictEqual(seen, ["slow", "1", "2", "3", "4"])
      assert.deepStrictEqual(signals, ["full", "drained"])
    })
  )

  it.live(`a long backlog is handed over in batches of at most ${Transport.maxBatch}`, () =>
    Effect.gen(function* () {
      const { inbound } = setup(1_000_000)
      const total = Transport.maxBatch * 2 + 7
      for (let i = 0; i < total; i++) inbound.frame(String(i))
      inbound.close({ code: 1000, reason: "" })
      const sizes: Array<number> = []
      const seen: Array<string> = []
      yield* inbound.run((frames) => {
        sizes.push(frames.length)
        seen.push(...(frames as ReadonlyArray<string>))
        return undefined
      })
      assert.deepStrictEqual(sizes, [Transport.maxBatch, Transport.maxBatch, 7])
      assert.deepStrictEqual(
        seen,
        Array.from({ length: total }, (_, i) => String(i))
      )
    })
  )

  it.live("a handler that throws ends run with that defect instead of escaping into the socket's callback", () =>
    Effect.gen(function* () {
      const { inbound } = setup()
      const reader = yield* Effect.fork(
        inbound.run(() => {
          throw new Error("boom")
        })
      )
      yield* Effect.yieldNow()
      inbound.frame("x")
      const exit = yield* Fiber.await(reader)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    })
  )

  it.live("an interrupted reader takes no more frames", () =>
    Effect.gen(function* () {
      const { inbound } = setup(100)
      const seen: Array<string> = []
      const reader = yield* Effect.fork(
        inbound.run((frames) => {
          seen.push(...(frames as ReadonlyArray<string>))
          return undefined
        })
      )
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(reader)
      inbound.frame("late")
      assert.deepStrictEqual(seen, [])
    })
  )
})

describe("inbound frames without a fiber waiting (listenerOf: the client's own transports)", () => {
  it("frames before listen first, then each in the socket's callback; work holds later frames until done; the close comes after every frame, once", () => {
    const { inbound, signals } = setup(2)
    const driver = { run: inbound.run } as unknown as Transport.Connection
    const listen = Transport.listenerOf(driver)
    assert.isDefined(listen)
    const seen: Array<string> = []
    const events: Array<string> = []
    let finishWork: (() => void) | undefined
    inbound.frame("a")
    listen!(
      (frames) => {
        seen.push(...(frames as ReadonlyArray<string>))
        return frames.includes("slow") ? Effect.void : undefined
      },
      {
        runWork: (_work, done) => {
          events.push("work")
          finishWork = done
        },
        onClose: (info) => events.push(`close ${info.code}`)
      }
    )
    assert.deepStrictEqual(seen, ["a"])
    inbound.frame("slow")
    inbound.frame("b")
    inbound.frame("c")
    inbound.close({ code: 1000, reason: "" })
    // Held while the work runs: past the bound the socket is paused; the close waits too.
    assert.deepStrictEqual(seen, ["a", "slow"])
    assert.deepStrictEqual(events, ["work"])
    assert.deepStrictEqual(signals, ["full"])
    finishWork!()
    assert.deepStrictEqual(seen, ["a", "slow", "b", "c"])
    assert.deepStrictEqual(events, ["work", "close 1000"])
    assert.deepStrictEqual(signals, ["full", "drained"])
    inbound.close({ code: 1006, reason: "" })
    assert.deepStrictEqual(events, ["work", "close 1000"])
  })

  it("a connection whose run was replaced has no listener (the client reads it with a fiber)", () => {
    const { inbound } = setup()
    const connection = { run: inbound.run } as unknown as Transport.Connection
    assert.isDefined(Transport.listenerOf(connection))
    assert.isUndefined(Transport.listenerOf({ ...connection, run: (h) => inbound.run(h) }))
  })
})

describe("sending without an Effect of its own (senderOf: the client's own transports)", () => {
  it("a connection built with sendNow has it, its own even where connections share one send; a replaced send has none", () => {
    const written: Array<string> = []
    const send = () => Effect.void
    const build = (name: string) =>
      Transport.makeConnection({
        send,
        sendNow: (frame) => {
          written.push(`${name}:${frame}`)
          return true
        },
        close: () => Effect.void,
        onFull: () => {},
        onDrained: () => {}
      }).connection
    const a = build("a")
    const b = build("b")
    Transport.senderOf(a)!("1")
    Transport.senderOf(b)!("2")
    assert.deepStrictEqual(written, ["a:1", "b:2"])
    assert.isUndefined(Transport.senderOf({ ...a, send: () => Effect.void }))
    const plain = Transport.makeConnection({ send, close: () => Effect.void, onFull: () => {}, onDrained: () => {} })
    assert.isUndefined(Transport.senderOf(plain.connection))
  })
})

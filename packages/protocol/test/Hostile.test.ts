import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Codec from "../src/Codec.js"
import { ProtocolError } from "../src/ProtocolError.js"
import type * as ServerEvent from "../src/ServerEvent.js"
import { toolCallWith } from "./fixtures/examples.js"

/** Runs `f`; a throw fails the test with what was thrown (the claim is that nothing throws). */
const noThrow = <A>(f: () => A): A => {
  try {
    return f()
  } catch (error) {
    return assert.fail(`threw ${String(error).slice(0, 200)}`)
  }
}

const leftOf = (result: Either.Either<unknown, ProtocolError>): ProtocolError => {
  if (Either.isRight(result)) return assert.fail(`expected a ProtocolError, got ${String(result.right).slice(0, 80)}`)
  assert.instanceOf(result.left, ProtocolError)
  return result.left
}

const toolCall = (args: string, extra = "") =>
  `{"type":"tool_call","sessionId":"s","turnId":"t","seq":1,"ts":1,"toolCallId":"c","toolName":"n","args":${args}${extra}}`

const toolCallValue = toolCallWith

const arrays = (depth: number, leaf = "1") => `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`
const objects = (depth: number, leaf = "1") => `${'{"a":'.repeat(depth)}${leaf}${"}".repeat(depth)}`

/** A value nested `depth` levels (arrays), built without recursion. */
const nested = (depth: number): unknown => {
  let value: unknown = "leaf"
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

describe("Codec: deep frames never throw; free JSON deeper than maxDepth is FrameTooDeep", () => {
  // Each frame's text spells `__proto__` or a `\u00` escape somewhere, which made the codec re-parse
  // it with a reviver outside its try/catch: V8's recursive reviver threw RangeError.
  const spellings: ReadonlyArray<readonly [string, string]> = [
    ["a __proto__ key", `,"x":{"__proto__":{"polluted":1}}`],
    ["a \\u00 escape", `,"x":"\\u0041"`],
    ["neither", ""]
  ]
  const shapes: ReadonlyArray<readonly [string, (depth: number) => string]> = [
    ["arrays", arrays],
    ["objects", objects]
  ]
  for (const depth of [3_000, 100_000]) {
    for (const [shape, build] of shapes) {
      for (const [spelling, extra] of spellings) {
        it(`tool args of ${depth} nested ${shape}, the frame holding ${spelling}`, ({ task }) => {
          Object.assign(task.meta, { table: "deep frames" })
          const error = leftOf(noThrow(() => Codec.client.decode(toolCall(build(depth), extra))))
          assert.strictEqual(error.reason, "FrameTooDeep")
          assert.deepStrictEqual(error.path, ["args"])
          assert.strictEqual(error.message, "tool_call.args: nests deeper than the maximum of 1024 levels")
        })
        it(`an unknown event with a field of ${depth} nested ${shape}, the frame holding ${spelling}`, ({ task }) => {
          Object.assign(task.meta, { table: "deep frames" })
          const frame = `{"type":"agent_mood","mood":${build(depth)}${extra}}`
          const error = leftOf(noThrow(() => Codec.client.decode(frame)))
          assert.strictEqual(error.reason, "FrameTooDeep")
          assert.deepStrictEqual([error.messageType, error.path], ["agent_mood", ["mood"]])
        })
      }
    }
  }

  it("the limit is exact: the frame is level 1, args at level maxDepth decode, one more is refused", () => {
    const codec = Codec.makeClientCodec({ maxDepth: 8 })
    // The frame (1) holds args (2) nested 6 more levels: 8 in all.
    const atLimit = toolCall(arrays(7), `,"z":"__proto__"`)
    const decoded = Either.getOrThrow(codec.decode(atLimit))
    assert.deepStrictEqual(decoded.type === "tool_call" && decoded.args, JSON.parse(arrays(7)))
    assert.strictEqual(leftOf(codec.decode(toolCall(arrays(8), `,"z":"__proto__"`))).reason, "FrameTooDeep")
    // The same bounds when encoding, so whatever decodes encodes again.
    const gateway = Codec.makeGatewayCodec({ maxDepth: 8 })
    assert.isTrue(Either.isRight(gateway.encode(decoded)))
    assert.strictEqual(leftOf(gateway.encode(toolCallValue(nested(8)))).reason, "FrameTooDeep")
    assert.strictEqual(leftOf(codec.decodeUnknown(toolCallValue(nested(8)))).reason, "FrameTooDeep")
  })

  it("the default limit keeps the seeds' 1,000 levels with room to spare, and stops at 1,024", () => {
    assert.strictEqual(Codec.client.maxDepth, 1024)
    assert.isTrue(Either.isRight(Codec.client.decode(toolCall(arrays(1023)))))
    assert.strictEqual(leftOf(Codec.client.decode(toolCall(arrays(1024)))).reason, "FrameTooDeep")
  })

  it("extra fields of a known message are dropped unread, however deep", () => {
    const frame = `{"type":"heartbeat","ts":1,"x":${arrays(100_000)},"y":"__proto__"}`
    assert.deepStrictEqual(Either.getOrThrow(noThrow(() => Codec.client.decode(frame))), { type: "heartbeat", ts: 1 })
  })

  it("a deep frame that also spells __proto__ loses every __proto__ key, at any depth", () => {
    const frame = toolCall(
      `{"a":${objects(900, '{"__proto__":{"polluted":1},"b":2}')},"\\u005f_proto__":{"polluted":1}}`
    )
    const event = Either.getOrThrow(Codec.client.decode(frame))
    let node: any = event.type === "tool_call" && event.args
    assert.isFalse(Object.hasOwn(node, "__proto__"))
    node = node.a
    for (let i = 0; i < 900; i++) node = node.a
    assert.deepStrictEqual(Object.keys(node), ["b"])
    assert.strictEqual(Object.getPrototypeOf(node), Object.prototype)
  })

  it.prop(
    "for any nesting of arrays and objects (1 to 2,000 levels, __proto__ keys and escapes anywhere), decode never throws, refuses exactly what nests past maxDepth, and what it accepts encodes back",
    [
      fc.array(fc.constantFrom("array", "object", "proto", "escaped"), { minLength: 1, maxLength: 2000 }),
      fc.integer({ min: 1, max: 1500 })
    ],
    ([levels, maxDepth], ctx) => {
      Object.assign(ctx.task.meta, { property: true, cases: ((ctx.task.meta as any).cases ?? 0) + 1 })
      // `depth`: how deep the value nests once `__proto__` keys are dropped (the leaf is 0).
      let text = "0"
      let depth = 0
      for (const level of levels) {
        if (level === "array") text = `[${text}]`
        else if (level === "object") text = `{"k":${text}}`
        else if (level === "escaped") text = `{"\\u005f_proto__":1,"e":${text}}`
        else {
          const short = text.length <= 64
          text = `{"__proto__":${text},"p":${short ? text : 1}}`
          depth = 1 + (short ? depth : 0)
          continue
        }
        depth += 1
      }
      const client = Codec.makeClientCodec({ maxDepth })
      const gateway = Codec.makeGatewayCodec({ maxDepth })
      // The frame is level 1, its args level 2.
      const result = noThrow(() => client.decode(toolCall(text)))
      if (1 + depth > maxDepth) {
        assert.strictEqual(leftOf(result).reason, "FrameTooDeep")
      } else {
        const event = Either.getOrThrow(result)
        const again = noThrow(() => gateway.encode(event))
        assert.isTrue(Either.isRight(again), Either.isLeft(again) ? again.left.message : "")
      }
    },
    { fastCheck: { numRuns: 200 } }
  )
})

describe("Codec: values that cannot be JSON are errors when encoding, never throws", () => {
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = { back: cyclic }
  const hostileProxy = new Proxy(
    {},
    {
      get: () => {
        throw new Error("trap")
      },
      ownKeys: () => {
        throw new Error("trap")
      },
      getPrototypeOf: () => {
        throw new Error("trap")
      }
    }
  )
  // 2^40 leaves as JSON.stringify would write them, in 40 shared arrays.
  let shared: unknown = 1
  for (let i = 0; i < 40; i++) shared = [shared, shared]
  const table: ReadonlyArray<readonly [name: string, value: unknown, reason: string, message: string]> = [
    [
      "tool args nested 10,000 deep",
      toolCallValue(nested(10_000)),
      "FrameTooDeep",
      "tool_call.args: nests deeper than the maximum of 1024 levels"
    ],
    [
      "an unknown event nested 10,000 deep",
      { type: "unknown", eventType: "agent_mood", payload: { type: "agent_mood", mood: nested(10_000) } },
      "FrameTooDeep",
      "unknown.payload.mood: nests deeper than the maximum of 1024 levels"
    ],
    [
      "cyclic tool args",
      toolCallValue(cyclic),
      "InvalidMessage",
      "tool_call.args: refers to itself (a cycle), which JSON cannot hold"
    ],
    [
      "a BigInt in tool args",
      toolCallValue({ n: 10n }),
      "InvalidMessage",
      "tool_call: encoding threw TypeError: Do not know how to serialize a BigInt"
    ],
    [
      "a getter that throws in tool args",
      toolCallValue({
        get x() {
          throw new Error("boom")
        }
      }),
      "InvalidMessage",
      "tool_call: encoding threw Error: boom"
    ],
    [
      "a toJSON that throws",
      toolCallValue({
        toJSON: () => {
          throw new Error("no")
        }
      }),
      "InvalidMessage",
      "tool_call: encoding threw Error: no"
    ],
    [
      "a getter that throws on a declared field",
      {
        type: "text_delta",
        sessionId: "s",
        turnId: "t",
        seq: 1,
        ts: 1,
        get text() {
          throw new Error("boom")
        }
      },
      "InvalidMessage",
      "text_delta: encoding threw Error: boom"
    ],
    [
      "a getter that throws on type",
      {
        get type() {
          throw "boom"
        }
      },
      "InvalidMessage",
      'message: encoding threw "boom"'
    ],
    ["a proxy whose traps throw", hostileProxy, "InvalidMessage", "message: encoding threw Error: trap"],
    [
      "2^40 leaves shared among 40 arrays",
      toolCallValue(shared),
      "FrameTooLarge",
      "tool_call: holds more objects and arrays than a frame of at most 16777216 bytes can"
    ]
  ]
  for (const [name, value, reason, message] of table) {
    it(name, ({ task }) => {
      Object.assign(task.meta, { table: "values that cannot be encoded" })
      const error = leftOf(noThrow(() => Codec.gateway.encode(value as ServerEvent.ServerEvent)))
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, message)
    })
  }

  it("a client message holding a throwing getter is an error on the client side too", () => {
    const message = {
      type: "run_turn",
      sessionId: "s",
      get text(): string {
        throw new Error("boom")
      }
    }
    assert.strictEqual(
      leftOf(noThrow(() => Codec.client.encode(message as never))).message,
      "run_turn: encoding threw Error: boom"
    )
  })
})

describe("Codec: decodeUnknown given values that are not JSON", () => {
  const cyclic: Record<string, unknown> = {}
  cyclic.again = [cyclic]
  const table: ReadonlyArray<readonly [name: string, value: unknown, reason: string, message: string]> = [
    [
      "cyclic tool args",
      toolCallValue(cyclic),
      "InvalidMessage",
      "tool_call.args: refers to itself (a cycle), which JSON cannot hold"
    ],
    [
      "a cyclic unknown event",
      { type: "agent_mood", mood: cyclic },
      "InvalidMessage",
      "agent_mood.mood: refers to itself (a cycle), which JSON cannot hold"
    ],
    [
      "tool args nested 10,000 deep",
      toolCallValue(nested(10_000)),
      "FrameTooDeep",
      "tool_call.args: nests deeper than the maximum of 1024 levels"
    ],
    [
      "a getter that throws on a field",
      {
        type: "heartbeat",
        get ts() {
          throw new Error("boom")
        }
      },
      "InvalidMessage",
      "message: reading the value threw Error: boom"
    ],
    [
      "a getter that throws inside tool args",
      toolCallValue({
        get x() {
          throw new RangeError("deep")
        }
      }),
      "InvalidMessage",
      "message: reading the value threw RangeError: deep"
    ],
    [
      "a thrown value whose message getter throws too",
      {
        get type() {
          throw Object.defineProperty(new Error(), "message", {
            get: () => {
              throw new Error("again")
            }
          })
        }
      },
      "InvalidMessage",
      "message: reading the value threw an exception"
    ]
  ]
  for (const [name, value, reason, message] of table) {
    it(name, ({ task }) => {
      Object.assign(task.meta, { table: "decodeUnknown of values that are not JSON" })
      const error = leftOf(noThrow(() => Codec.client.decodeUnknown(value)))
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, message)
    })
  }
})

describe("Codec: anything passed as a frame is a Right or a Left", () => {
  const table: ReadonlyArray<readonly [name: string, frame: unknown, message: string]> = [
    ["a number", 5, "message: expected a text frame (a string), got 5"],
    ["undefined", undefined, "message: expected a text frame (a string), got nothing"],
    [
      "a Buffer",
      Buffer.from(`{"type":"heartbeat","ts":1}`),
      "message: expected a text frame (a string), got an object"
    ],
    ["null", null, "message: expected a text frame (a string), got null"]
  ]
  for (const [name, frame, message] of table) {
    it(name, ({ task }) => {
      Object.assign(task.meta, { table: "frames that are not strings" })
      for (const codec of [Codec.client, Codec.gateway] as const) {
        const error = leftOf(noThrow(() => codec.decode(frame as string)))
        assert.deepStrictEqual([error.reason, error.message], ["InvalidJson", message])
      }
    })
  }

  it("a frame of one 16 MiB string decodes; one of 200,000 keys too", () => {
    const text = "x".repeat(Codec.defaultMaxFrameBytes - 100)
    const event = Either.getOrThrow(
      Codec.client.decode(`{"type":"text_delta","sessionId":"s","turnId":"t","seq":1,"ts":1,"text":"${text}"}`)
    )
    assert.strictEqual(event.type === "text_delta" && event.text.length, text.length)
    const keys = Array.from({ length: 200_000 }, (_, i) => `"k${i}":${i}`).join(",")
    const args = Either.getOrThrow(Codec.client.decode(toolCall(`{${keys}}`, `,"p":"__proto__"`)))
    assert.strictEqual(args.type === "tool_call" && Object.keys(args.args as object).length, 200_000)
  })
})

describe("Codec: error messages stay small whatever the frame holds", () => {
  it("a 1 MiB type name or record key is cut short in the message", () => {
    const long = "k".repeat(1024 * 1024)
    const unknown = leftOf(Codec.gateway.decode(`{"type":"${long}"}`))
    assert.strictEqual(unknown.reason, "UnknownType")
    assert.isBelow(unknown.message.length, 200)
    const key = leftOf(
      Codec.gateway.decode(`{"type":"answer_question","sessionId":"s","requestId":"q","answers":{"${long}":5}}`)
    )
    assert.strictEqual(
      key.message,
      `answer_question.answers["${"k".repeat(36)}... (1048576 chars)"]: expected a string, got 5`
    )
    assert.deepStrictEqual(key.path, ["answers", long])
  })
})

describe("the protocol README's 'Validating traffic' snippet, run as written", () => {
  // The README's block is examples/consumers/readme/protocol-validate.ts (examples/consumers checks
  // they are the same): a gateway's inbound path, fed one frame per line on stdin.
  const example = path.join(
    path.dirname(fileURLToPath(import.meta.url)),
    "..",
    "..",
    "..",
    "examples",
    "consumers",
    "readme",
    "protocol-validate.ts"
  )

  it("answers each hostile frame with an error event and never throws", () => {
    const hostile = [
      toolCall(arrays(5_000), `,"x":"__proto__"`),
      `{"type":"${"t".repeat(1_000_000)}"}`,
      // Each quote takes 2 bytes here, 2 in the error message and 4 in the error event's frame.
      `{"type":"answer_question","sessionId":"s","requestId":"q","answers":{"${'\\"'.repeat(500_000)}":5}}`,
      "{nope",
      `{"type":{"toString":null}}`
    ]
    const run = spawnSync(process.execPath, ["--conditions=diminuendo-source", "--import", "tsx", example], {
      cwd: path.dirname(example),
      input: `${hostile.join("\n")}\n`,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000
    })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.strictEqual(run.stderr, "")
    const sent = run.stdout.trimEnd().split("\n")
    assert.strictEqual(sent.length, hostile.length)
    for (const frame of sent) assert.strictEqual(JSON.parse(frame).type, "error")
  })
})

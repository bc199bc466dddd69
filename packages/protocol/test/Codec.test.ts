import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Codec from "../src/Codec.js"
import { ProtocolError } from "../src/ProtocolError.js"
import type * as ServerEvent from "../src/ServerEvent.js"
import { toolCallWith, unicodeSamples } from "./fixtures/examples.js"

const decodeOk = (frame: string): ServerEvent.ServerEvent => {
  const result = Codec.decodeServerEvent(frame)
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return result.right
}

const decodeErr = (frame: string, codec: Codec.ClientCodec = Codec.client): ProtocolError => {
  const result = codec.decode(frame)
  if (Either.isRight(result)) assert.fail(`expected a ProtocolError, decoded ${JSON.stringify(result.right)}`)
  assert.instanceOf(result.left, ProtocolError)
  return result.left
}

const delta = (fields: string) => `{"type":"text_delta","sessionId":"s","turnId":"t","ts":1,${fields}}`

describe("Codec: invalid server frames give exact errors", () => {
  const table: ReadonlyArray<readonly [name: string, frame: string, reason: string, message: string]> = [
    [
      "i64::MAX seq",
      delta(`"seq":9223372036854775807,"text":"x"`),
      "UnsafeInteger",
      "text_delta.seq: expected a sequence number (non-negative safe integer), got 9223372036854775807"
    ],
    [
      "2^53 seq",
      delta(`"seq":9007199254740992,"text":"x"`),
      "UnsafeInteger",
      "text_delta.seq: expected a sequence number (non-negative safe integer), got 9007199254740992"
    ],
    [
      "1e400 seq",
      delta(`"seq":1e400,"text":"x"`),
      "UnsafeInteger",
      "text_delta.seq: expected a sequence number (non-negative safe integer), got 1e400"
    ],
    [
      "negative seq",
      delta(`"seq":-1,"text":"x"`),
      "InvalidMessage",
      "text_delta.seq: expected a sequence number (non-negative safe integer), got -1"
    ],
    [
      "fractional seq",
      delta(`"seq":0.5,"text":"x"`),
      "InvalidMessage",
      "text_delta.seq: expected a sequence number (non-negative safe integer), got 0.5"
    ],
    [
      "string seq",
      delta(`"seq":"7","text":"x"`),
      "InvalidMessage",
      `text_delta.seq: expected a sequence number (non-negative safe integer), got "7"`
    ],
    [
      "NaN-like string seq",
      delta(`"seq":"NaN","text":"x"`),
      "InvalidMessage",
      `text_delta.seq: expected a sequence number (non-negative safe integer), got "NaN"`
    ],
    ["missing text", delta(`"seq":1`), "InvalidMessage", "text_delta.text: is missing"],
    ["null text", delta(`"seq":1,"text":null`), "InvalidMessage", "text_delta.text: expected a string, got null"],
    ["numeric text", delta(`"seq":1,"text":5`), "InvalidMessage", "text_delta.text: expected a string, got 5"],
    ["object text", delta(`"seq":1,"text":{}`), "InvalidMessage", "text_delta.text: expected a string, got an object"],
    ["not JSON", "{nope", "InvalidJson", "message: invalid JSON (Expected property name or '}' in JSON at position 1)"],
    ["array", "[]", "InvalidMessage", "message: expected an object, got an array of 0"],
    ["null", "null", "InvalidMessage", "message: expected an object, got null"],
    ["no type", `{"seq":1}`, "InvalidMessage", "message.type: is missing"],
    ["numeric type", `{"type":1}`, "InvalidMessage", "message.type: expected a string, got 1"],
    [
      "session meta missing field",
      `{"type":"session_created","session":{"id":"a"}}`,
      "InvalidMessage",
      "session_created.session.tenantId: is missing"
    ],
    [
      "nested array element",
      `{"type":"session_list","sessions":[{"id":"a","tenantId":"t","name":null,"agentType":"x","status":"ready","archived":"no","createdAt":1,"updatedAt":1,"lastActivityAt":null}]}`,
      "InvalidMessage",
      `session_list.sessions[0].archived: expected a boolean, got "no"`
    ],
    [
      "nullable timestamp",
      `{"type":"session_created","session":{"id":"a","tenantId":"t","name":null,"agentType":"x","status":"ready","archived":false,"createdAt":1,"updatedAt":1,"lastActivityAt":"yesterday"}}`,
      "InvalidMessage",
      `session_created.session.lastActivityAt: expected epoch milliseconds (non-negative safe integer) or null, got "yesterday"`
    ],
    [
      "closed enum",
      `{"type":"file_content","sessionId":"s","path":"a","content":"","encoding":"utf-16"}`,
      "InvalidMessage",
      `file_content.encoding: expected "utf-8" or "base64", got "utf-16"`
    ],
    [
      "open enum of wrong type",
      `{"type":"session_state","sessionId":"s","seq":1,"ts":1,"status":3}`,
      "InvalidMessage",
      `session_state.status: expected one of "inactive", "ready", "running", "provisioning", "waiting", "error" (open: other strings are kept), got 3`
    ],
    [
      "progress over 1",
      `{"type":"sandbox_provisioning","sessionId":"s","seq":1,"ts":1,"sandboxId":"b","progress":1.5}`,
      "InvalidMessage",
      "sandbox_provisioning.progress: expected a number between 0 and 1, got 1.5"
    ],
    [
      "event inside events",
      `{"type":"events","sessionId":"s","events":[{"type":"text_delta","sessionId":"s","turnId":"t","seq":-4,"ts":1,"text":""}]}`,
      "InvalidMessage",
      "events.events[0].seq: expected a sequence number (non-negative safe integer), got -4"
    ],
    [
      "long string is truncated in the message",
      delta(`"seq":1,"text":["${"y".repeat(500)}"]`),
      "InvalidMessage",
      "text_delta.text: expected a string, got an array of 1"
    ],
    [
      "odd key in path",
      `{"type":"answer_question","sessionId":"s","requestId":"q","answers":{"my key":5}}`,
      "InvalidMessage",
      ""
    ]
  ]
  for (const [name, frame, reason, message] of table.slice(0, -1)) {
    it(name, ({ task }) => {
      Object.assign(task.meta, { table: "invalid server frames with exact messages" })
      const error = decodeErr(frame)
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, message)
    })
  }

  it("client message with an odd key in its path (gateway side)", () => {
    const frame = `{"type":"answer_question","sessionId":"s","requestId":"q","answers":{"my key":5}}`
    const error = Either.flip(Codec.decodeClientMessage(frame)).pipe(Either.getOrThrow)
    assert.strictEqual(error.message, `answer_question.answers["my key"]: expected a string, got 5`)
    assert.deepStrictEqual(error.path, ["answers", "my key"])
    assert.strictEqual(error.messageType, "answer_question")
  })

  it("an unknown client message type is UnknownType on the gateway side", () => {
    const error = Either.flip(Codec.decodeClientMessage(`{"type":"subscribe"}`)).pipe(Either.getOrThrow)
    assert.strictEqual(error.reason, "UnknownType")
    assert.strictEqual(error.message, `subscribe.type: unknown client message type "subscribe"`)
  })
})

describe("Codec: forward compatibility", () => {
  it("an unknown type decodes to an UnknownEvent keeping its payload", () => {
    const event = decodeOk(`{"type":"agent_mood","sessionId":"s","mood":{"level":3}}`)
    assert.deepStrictEqual(event, {
      type: "unknown",
      eventType: "agent_mood",
      payload: { type: "agent_mood", sessionId: "s", mood: { level: 3 } }
    })
    assert.strictEqual(
      Either.getOrThrow(Codec.encodeServerEvent(event)),
      `{"type":"agent_mood","sessionId":"s","mood":{"level":3}}`
    )
  })

  it("a malformed known event is an error, never an UnknownEvent", () => {
    assert.strictEqual(decodeErr(`{"type":"turn_complete","sessionId":"s"}`).reason, "InvalidMessage")
  })

  it("open enumerations keep unknown strings", () => {
    const event = decodeOk(
      `{"type":"tool_result","sessionId":"s","turnId":"t","seq":1,"ts":1,"toolCallId":"c","status":"partial","output":[1]}`
    )
    assert.strictEqual(event.type === "tool_result" && event.status, "partial")
  })

  it("extra fields are tolerated and dropped", () => {
    const event = decodeOk(delta(`"seq":1,"text":"x","v2":true`))
    assert.deepStrictEqual(Object.keys(event).sort(), ["seq", "sessionId", "text", "ts", "turnId", "type"])
  })

  it("encoding an UnknownEvent that claims a known type is refused", () => {
    const result = Codec.encodeServerEvent({ type: "unknown", eventType: "text_delta", payload: {} })
    assert.strictEqual(Either.flip(result).pipe(Either.getOrThrow).reason, "InvalidMessage")
  })
})

describe("Codec: encoding validates", () => {
  it("an unsafe integer in an outgoing message is refused, not rounded", () => {
    const result = Codec.encodeClientMessage({ type: "ping", ts: 2 ** 60 })
    const error = Either.flip(result).pipe(Either.getOrThrow)
    assert.strictEqual(error.reason, "UnsafeInteger")
    assert.strictEqual(
      error.message,
      "ping.ts: expected epoch milliseconds (non-negative safe integer), got 1152921504606846976"
    )
  })

  it("extra properties of a typed value are not sent", () => {
    const message = { type: "ping", ts: 1, secret: "x" } as const
    assert.strictEqual(Either.getOrThrow(Codec.encodeClientMessage(message)), `{"type":"ping","ts":1}`)
  })

  it("an unknown type cannot be encoded", () => {
    const result = Codec.encodeClientMessage({ type: "launch" } as never)
    assert.strictEqual(Either.flip(result).pipe(Either.getOrThrow).reason, "UnknownType")
  })

  it("an encoded frame over maxFrameBytes is refused", () => {
    const codec = Codec.makeClientCodec({ maxFrameBytes: 32 })
    const result = codec.encode({ type: "run_turn", sessionId: "s", text: "x".repeat(64) })
    assert.strictEqual(Either.flip(result).pipe(Either.getOrThrow).reason, "FrameTooLarge")
  })
})

describe("Codec: the seeds' edge cases", () => {
  it("a 1 MB text field is delivered whole", () => {
    const text = "a\u00e9\u4e2d😀".repeat((1024 * 1024) / 10)
    const event = decodeOk(delta(`"seq":1,"text":${JSON.stringify(text)}`))
    assert.strictEqual(event.type === "text_delta" && event.text, text)
  })

  it("tool args nested 1,000 levels deep are kept", () => {
    let args: unknown = "leaf"
    for (let i = 0; i < 1000; i++) args = { child: args }
    const event = decodeOk(JSON.stringify(toolCallWith(args)))
    assert.deepStrictEqual(event.type === "tool_call" && event.args, args)
  })

  it("a list of 10,000 sessions decodes", () => {
    const sessions = Array.from({ length: 10_000 }, (_, i) => ({
      id: `s-${i}`,
      tenantId: "t",
      name: i % 2 ? null : `n${i}`,
      agentType: "echo",
      status: "ready",
      archived: false,
      createdAt: i,
      updatedAt: i,
      lastActivityAt: null
    }))
    const event = decodeOk(JSON.stringify({ type: "session_list", sessions }))
    assert.strictEqual(event.type === "session_list" && event.sessions.length, 10_000)
    assert.deepStrictEqual(event.type === "session_list" && event.sessions[9_999], sessions[9_999])
  })

  for (const [name, text] of Object.entries(unicodeSamples)) {
    it(`unicode round-trips byte-exact: ${name}`, ({ task }) => {
      Object.assign(task.meta, { table: "unicode samples" })
      const frame = delta(`"seq":1,"text":${JSON.stringify(text)}`)
      const event = decodeOk(frame)
      assert.strictEqual(event.type === "text_delta" && event.text, text)
      const again = Either.getOrThrow(Codec.encodeServerEvent(event))
      assert.strictEqual(Buffer.from(JSON.parse(again).text).toString("hex"), Buffer.from(text).toString("hex"))
    })
  }

  it("a lone surrogate (escaped, as JSON allows) is delivered as is", () => {
    const event = decodeOk(delta(`"seq":1,"text":"a\\ud800b"`))
    assert.strictEqual(event.type === "text_delta" && event.text, "a\ud800b")
    assert.include(Either.getOrThrow(Codec.encodeServerEvent(event)), "\\ud800")
  })

  for (const seq of [0, Number.MAX_SAFE_INTEGER]) {
    it(`seq ${seq} is accepted`, () => {
      const event = decodeOk(delta(`"seq":${seq},"text":""`))
      assert.strictEqual(event.type === "text_delta" && event.seq, seq)
    })
  }
})

describe("Codec: prototype pollution", () => {
  const attacks = [
    `{"type":"tool_call","sessionId":"s","turnId":"t","seq":1,"ts":1,"toolCallId":"c","toolName":"n","args":{"__proto__":{"polluted":"yes"}}}`,
    `{"type":"tool_call","sessionId":"s","turnId":"t","seq":1,"ts":1,"toolCallId":"c","toolName":"n","args":{"\\u005f_proto__":{"polluted":"yes"}}}`,
    `{"type":"unknown_thing","__proto__":{"polluted":"yes"}}`,
    `{"__proto__":{"polluted":"yes"},"type":"heartbeat","ts":1}`,
    `{"type":"tool_call","sessionId":"s","turnId":"t","seq":1,"ts":1,"toolCallId":"c","toolName":"n","args":{"constructor":{"prototype":{"polluted":"yes"}}}}`,
    `{"type":"state_snapshot","sessionId":"s","session":{"id":"a","tenantId":"t","name":null,"agentType":"x","status":"ready","archived":false,"createdAt":1,"updatedAt":1,"lastActivityAt":null},"currentTurn":null,"recentHistory":[{"id":"m","role":"user","content":"","createdAt":1,"metadata":{"__proto__":{"polluted":"yes"}}}],"subscriberCount":1,"sandbox":null}`
  ]
  for (const frame of attacks) {
    it(`changes no prototype: ${frame.slice(0, 70)}`, ({ task }) => {
      Object.assign(task.meta, { table: "prototype pollution frames" })
      const event = decodeOk(frame)
      const seen: Array<unknown> = []
      const visit = (value: unknown) => {
        if (typeof value !== "object" || value === null) return
        const proto = Object.getPrototypeOf(value)
        assert.isTrue(proto === Object.prototype || proto === Array.prototype, "unexpected prototype")
        assert.isFalse(Object.hasOwn(value, "__proto__"))
        seen.push(value)
        for (const child of Object.values(value)) visit(child)
      }
      visit(event)
      assert.isUndefined(({} as any).polluted)
      assert.isUndefined((Object.prototype as any).polluted)
      // What the app does next with the value (a merge with Object.assign) stays safe.
      const merged = Object.assign({}, event.type === "tool_call" ? event.args : event)
      assert.isUndefined((merged as any).polluted)
    })
  }

  it("the answers record of an answer_question cannot replace a prototype", () => {
    const result = Codec.decodeClientMessage(
      `{"type":"answer_question","sessionId":"s","requestId":"q","answers":{"__proto__":"x","a":"b"}}`
    )
    const message = Either.getOrThrow(result)
    assert.strictEqual(message.type === "answer_question" && Object.getPrototypeOf(message.answers), Object.prototype)
    assert.deepStrictEqual(message.type === "answer_question" && { ...message.answers }, { a: "b" })
  })

  it("a polluted Object.prototype does not change what the codec accepts", () => {
    const proto = Object.prototype as any
    proto.text = "injected"
    proto.seq = 1
    try {
      assert.strictEqual(
        decodeErr(`{"type":"text_delta","sessionId":"s","turnId":"t","ts":1}`).message,
        "text_delta.seq: is missing"
      )
    } finally {
      delete proto.text
      delete proto.seq
    }
  })
})

describe("Codec: ownership of keys", () => {
  const fields = { type: "session_deleted", sessionId: "s" } as const
  it("an object without a prototype decodes like a plain one", () => {
    const bare = Object.assign(Object.create(null), fields)
    assert.deepStrictEqual(Either.getOrThrow(Codec.client.decodeUnknown(bare)), fields)
  })

  it("an inherited field does not count as present (as in Effect's decoder)", () => {
    const child = Object.create({ sessionId: "s" })
    child.type = "session_deleted"
    const error = Either.flip(Codec.client.decodeUnknown(child)).pipe(Either.getOrThrow)
    assert.strictEqual(error.message, "session_deleted.sessionId: is missing")
  })

  it("a field on a polluted Object.prototype does not count as present", () => {
    const proto = Object.prototype as any
    proto.sessionId = "s"
    try {
      assert.strictEqual(decodeErr(`{"type":"session_deleted"}`).message, "session_deleted.sessionId: is missing")
      assert.deepStrictEqual(decodeOk(`{"type":"session_deleted","sessionId":"t"}`), {
        type: "session_deleted",
        sessionId: "t"
      })
    } finally {
      delete proto.sessionId
    }
  })
})

describe("Codec: hostile values never throw", () => {
  const frames = [
    `{"type":{"toString":null}}`,
    `{"type":"manage_members","action":{"toString":null,"valueOf":null}}`,
    `{"type":"file_content","sessionId":"s","path":"p","content":"","encoding":{"toString":null}}`
  ]
  for (const frame of frames) {
    it(frame, ({ task }) => {
      Object.assign(task.meta, { table: "hostile values" })
      assert.isTrue(Either.isLeft(Codec.decodeClientMessage(frame)))
      assert.isTrue(Either.isLeft(Codec.decodeServerEvent(frame)) || frame.includes("manage_members"))
    })
  }
})

describe("Codec: limits are positive safe integers", () => {
  // Each would switch a bound off without a word (NaN and Infinity compare false with everything).
  const invalid: ReadonlyArray<readonly [string, unknown, string]> = [
    ["NaN", Number.NaN, "got NaN"],
    ["Infinity", Number.POSITIVE_INFINITY, "got Infinity"],
    ["zero", 0, "got 0"],
    ["negative", -1, "got -1"],
    ["fraction", 1.5, "got 1.5"],
    ["past 2^53", 2 ** 53, "got 9007199254740992"],
    ["a string", "8", 'got string "8"'],
    ["null", null, "got object null"]
  ]
  for (const name of ["maxFrameBytes", "maxDepth"] as const) {
    for (const [what, value, got] of invalid) {
      it(`${name}: ${what} is a RangeError when the codec is made`, ({ task }) => {
        Object.assign(task.meta, { table: "invalid codec limits" })
        for (const make of [Codec.makeClientCodec, Codec.makeGatewayCodec]) {
          assert.throws(
            () => make({ [name]: value } as Codec.CodecOptions),
            RangeError,
            `${name} must be a positive safe integer, ${got}`
          )
        }
      })
    }
    it(`${name}: 1 is the smallest limit, and holds`, () => {
      const codec = Codec.makeClientCodec({ [name]: 1 })
      assert.strictEqual(codec[name], 1)
      const heartbeat = `{"type":"heartbeat","ts":1}`
      // One byte: every frame is too large. One level: the message itself, no nested free JSON.
      if (name === "maxFrameBytes") assert.strictEqual(decodeErr(heartbeat, codec).reason, "FrameTooLarge")
      else {
        assert.isTrue(Either.isRight(codec.decode(heartbeat)))
        assert.strictEqual(decodeErr(JSON.stringify(toolCallWith({ a: 1 })), codec).reason, "FrameTooDeep")
      }
    })
  }
})

describe("Codec: decodeOrElse's orElse", () => {
  it("is called once, with the error, only for a rejected frame; what it throws passes through", () => {
    const calls: Array<ProtocolError> = []
    const ok = `{"type":"heartbeat","ts":1}`
    assert.deepStrictEqual(
      Codec.client.decodeOrElse(ok, (error) => calls.push(error)),
      { type: "heartbeat", ts: 1 }
    )
    assert.strictEqual(calls.length, 0)
    assert.strictEqual(
      Codec.client.decodeOrElse("{", (error) => calls.push(error)),
      1
    )
    assert.strictEqual(calls[0]!.reason, "InvalidJson")
    assert.throws(
      () =>
        Codec.client.decodeOrElse("{", () => {
          throw new Error("mine")
        }),
      "mine"
    )
  })
})

import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Codec from "../src/Codec.js"
import { compile, FAIL } from "../src/internal/compile.js"
import * as ServerEvent from "../src/ServerEvent.js"

// Run by the "protocol (no code generation)" project only (vitest.nocodegen.config.ts).
describe("the codec where code generation is forbidden", () => {
  it("compiles into closures, not generated functions; Function works again for everything else", () => {
    // Generated validators are named after what they check ("validate", "validateUnion", ...).
    for (const schema of [ServerEvent.TextDelta, ServerEvent.SessionList, ServerEvent.ServerEvent]) {
      const validator = compile(schema.ast, "decode")
      assert.isDefined(validator)
      assert.notMatch(validator!.name, /^validate/)
    }
    assert.strictEqual(new Function("return 1")(), 1)
  })

  it("decodes and refuses as elsewhere", () => {
    const frame = JSON.stringify({ type: "text_delta", sessionId: "s", turnId: "t", text: "hi", seq: 1, ts: 2 })
    assert.deepStrictEqual(Either.getOrThrow(Codec.client.decode(frame)), JSON.parse(frame))
    assert.isTrue(Either.isLeft(Codec.client.decode(frame.replace('"seq":1', '"seq":-1'))))
    assert.strictEqual(compile(ServerEvent.TextDelta.ast, "decode")!({ type: "text_delta" }), FAIL)
  })
})

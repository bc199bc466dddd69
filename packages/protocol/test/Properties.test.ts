import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as ClientMessage from "../src/ClientMessage.js"
import * as Codec from "../src/Codec.js"
import { compile, FAIL } from "../src/internal/compile.js"
import type { ProtocolError } from "../src/ProtocolError.js"
import * as ServerEvent from "../src/ServerEvent.js"

const sanitize = <A>(value: A): A =>
  JSON.parse(JSON.stringify(value), (key, v) => (key === "__proto__" ? undefined : v))

const arbitrary = <A, I>(schema: Schema.Schema<A, I>) => Arbitrary.make(schema).map(sanitize)

const exact = { errors: "first", exact: true } as const

/** Marks a property test for the suite summary and counts one generated case. */
const counted = (ctx: { readonly task: { readonly meta: object } }) => {
  const meta = ctx.task.meta as { property?: boolean; cases?: number }
  meta.property = true
  meta.cases = (meta.cases ?? 0) + 1
}

/**
 * Effect's decoder as the reference verdict. It throws on a few hostile values (a `type` that is an
 * object whose `toString` is null breaks its union dispatch); a throw counts as a rejection.
 */
const reference =
  (decode: (u: unknown) => Either.Either<unknown, ParseResult.ParseIssue>) =>
  (u: unknown): Either.Either<unknown, unknown> => {
    try {
      return decode(u)
    } catch (error) {
      return Either.left(error)
    }
  }

/** Replaces or deletes one node of a JSON tree, chosen by `pick`. */
const mutate = (value: unknown, pick: number, replacement: unknown, remove: boolean): unknown => {
  const nodes: Array<[parent: any, key: string | number]> = []
  const walk = (node: unknown) => {
    if (typeof node !== "object" || node === null) return
    for (const key of Object.keys(node)) {
      nodes.push([node, Array.isArray(node) ? Number(key) : key])
      walk((node as any)[key])
    }
  }
  const copy = structuredClone(value)
  walk(copy)
  if (nodes.length === 0) return replacement
  const [parent, key] = nodes[pick % nodes.length]!
  if (remove && !Array.isArray(parent)) delete parent[key]
  else parent[key] = replacement
  return copy
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const replacement = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0.5, 2 ** 53, -(2 ** 53), 2 ** 63, Number.POSITIVE_INFINITY, "", "x", null, true, [], {}),
  fc.constantFrom(...ServerEvent.knownTypes, ...ClientMessage.types),
  fc.constant({ toString: null, valueOf: null })
)

const mutation = fc.tuple(fc.nat(), replacement, fc.boolean())

type Decode = (frame: string) => Either.Either<unknown, ProtocolError>
type Encode = (value: any) => Either.Either<string, ProtocolError>
const encoderOf = (name: "client" | "server"): Encode =>
  name === "client" ? Codec.client.encode : Codec.gateway.encode
const decoderOf = (name: "client" | "server"): Decode =>
  name === "client" ? Codec.gateway.decode : Codec.client.decode

const directions = [
  { name: "client", members: ClientMessage.members, types: ClientMessage.types },
  { name: "server", members: ServerEvent.knownMembers, types: ServerEvent.knownTypes }
] as const

for (const direction of directions) {
  describe(`${direction.name} messages: properties of every type`, () => {
    direction.members.forEach((schema: Schema.Schema<any, any>, index) => {
      const type = direction.types[index]!
      const decodeFast = compile(schema.ast, "decode")!
      const decodeParsed = compile(schema.ast, "parsed")!
      const decodeSlow = reference(ParseResult.decodeUnknownEither(schema, exact))

      it.prop(
        `${type}: encode then decode gives the value back`,
        [arbitrary(schema)],
        ([value], ctx) => {
          counted(ctx)
          const encode = encoderOf(direction.name)
          const decode = decoderOf(direction.name)
          const frame = Either.getOrThrow(encode(value))
          assert.deepStrictEqual(Either.getOrThrow(decode(frame)), value)
        },
        { fastCheck: { numRuns: 40 } }
      )

      it.prop(
        `${type}: decode then encode of a wire example gives the same JSON`,
        [arbitrary(Schema.encodedSchema(schema))],
        ([wire], ctx) => {
          counted(ctx)
          const decode = decoderOf(direction.name)
          const encode = encoderOf(direction.name)
          const decoded = decode(JSON.stringify(wire))
          const schemaVerdict = Either.isRight(decodeSlow(wire))
          assert.strictEqual(Either.isRight(decoded), schemaVerdict)
          if (Either.isRight(decoded))
            assert.deepStrictEqual(JSON.parse(Either.getOrThrow(encode(decoded.right))), wire)
        },
        { fastCheck: { numRuns: 40 } }
      )

      it.prop(
        `${type}: the compiled validator gives exactly the Schema's verdicts on mutated input`,
        [arbitrary(schema), mutation],
        ([value, [pick, next, remove]], ctx) => {
          counted(ctx)
          const input = mutate(value, pick, next, remove)
          const fast = decodeFast(input)
          const slow = decodeSlow(input)
          assert.strictEqual(fast !== FAIL, Either.isRight(slow), JSON.stringify(input))
          if (Either.isRight(slow)) assert.deepStrictEqual(fast, slow.right)
        },
        { fastCheck: { numRuns: 60 } }
      )

      it.prop(
        `${type}: the validator for freshly parsed JSON gives exactly the Schema's verdicts on mutated frames`,
        [arbitrary(schema), mutation, fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })],
        ([value, [pick, next, remove], extra], ctx) => {
          counted(ctx)
          // Extra keys at the top level as well: the parsed validator must drop them too.
          const mutated = mutate(value, pick, next, remove)
          const text = JSON.stringify(isRecord(mutated) ? { ...sanitize(extra), ...mutated } : mutated)
          const fast = decodeParsed(JSON.parse(text))
          const slow = decodeSlow(JSON.parse(text))
          assert.strictEqual(fast !== FAIL, Either.isRight(slow), text)
          if (Either.isRight(slow)) assert.deepStrictEqual(fast, slow.right)
        },
        { fastCheck: { numRuns: 60 } }
      )
    })
  })
}

describe("unions", () => {
  const slowServer = reference(ParseResult.decodeUnknownEither(ServerEvent.ServerEvent, exact))
  const slowClient = reference(ParseResult.decodeUnknownEither(ClientMessage.ClientMessage, exact))
  const anyServer = fc.oneof(
    ...ServerEvent.knownMembers.map((m: Schema.Schema<any, any>) => arbitrary(m)),
    fc
      .dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 }))
      .map((o) => sanitize({ ...o, type: `x_${Object.keys(o).length}` }))
  )
  const anyClient = fc.oneof(...ClientMessage.members.map((m: Schema.Schema<any, any>) => arbitrary(m)))

  type Decode = (u: unknown) => Either.Either<unknown, unknown>
  const unions: ReadonlyArray<readonly [string, string, fc.Arbitrary<unknown>, Decode, Decode]> = [
    ["server", "ServerEvent", anyServer, Codec.client.decodeUnknown, slowServer],
    ["gateway", "ClientMessage", anyClient, Codec.gateway.decodeUnknown, slowClient]
  ]
  for (const [side, union, values, fast, slow] of unions) {
    it.prop(
      `the ${side} codec decodes exactly what Schema.decodeUnknown(${union}) decodes`,
      [values, mutation],
      ([value, [pick, next, remove]], ctx) => {
        counted(ctx)
        const input = mutate(value, pick, next, remove)
        const compiled = fast(input)
        const reference = slow(input)
        assert.strictEqual(Either.isRight(compiled), Either.isRight(reference), JSON.stringify(input))
        if (Either.isRight(reference)) assert.deepStrictEqual(Either.getOrThrow(compiled), reference.right)
      },
      { fastCheck: { numRuns: 1000 } }
    )
  }

  const textUnions: ReadonlyArray<readonly [string, string, fc.Arbitrary<unknown>, Decode, Decode]> = [
    ["server", "ServerEvent", anyServer, Codec.client.decode as Decode, slowServer],
    ["gateway", "ClientMessage", anyClient, Codec.gateway.decode as Decode, slowClient]
  ]
  for (const [side, union, values, fast, slow] of textUnions) {
    it.prop(
      `the ${side} codec decodes from text exactly what Schema.decodeUnknown(${union}) decodes of the parsed text (__proto__ keys dropped)`,
      [values, mutation],
      ([value, [pick, next, remove]], ctx) => {
        counted(ctx)
        const text = JSON.stringify(mutate(value, pick, next, remove)) ?? "null"
        const compiled = fast(text)
        const reference = slow(sanitize(JSON.parse(text)))
        assert.strictEqual(Either.isRight(compiled), Either.isRight(reference), text)
        if (Either.isRight(reference)) assert.deepStrictEqual(Either.getOrThrow(compiled), reference.right)
      },
      { fastCheck: { numRuns: 1000 } }
    )
  }

  interface FrameCodec {
    readonly decode: (frame: string) => Either.Either<unknown, ProtocolError>
    readonly decodeOrElse: <B>(frame: string, orElse: (error: ProtocolError) => B) => unknown
  }
  // The defaults, and small limits so that frames too large or too deep take the other paths.
  const orElseCodecs: ReadonlyArray<readonly [string, fc.Arbitrary<unknown>, ReadonlyArray<FrameCodec>]> = [
    ["server", anyServer, [Codec.client, Codec.makeClientCodec({ maxDepth: 3, maxFrameBytes: 200 })]],
    ["gateway", anyClient, [Codec.gateway, Codec.makeGatewayCodec({ maxDepth: 3, maxFrameBytes: 200 })]]
  ]
  for (const [side, values, codecs] of orElseCodecs) {
    it.prop(
      `the ${side} codec's decodeOrElse gives decode's value, or hands decode's error to orElse`,
      [values, mutation, fc.constantFrom("json", "cut", "not a string")],
      ([value, [pick, next, remove], form], ctx) => {
        counted(ctx)
        const mutated = mutate(value, pick, next, remove)
        const text = JSON.stringify(mutated) ?? "null"
        const frame = (form === "json" ? text : form === "cut" ? text.slice(0, -1) : mutated) as string
        for (const codec of codecs) {
          const failed = { failed: true }
          const handed: Array<ProtocolError> = []
          const out = codec.decodeOrElse(frame, (error) => {
            handed.push(error)
            return failed
          })
          const expected = codec.decode(frame)
          if (Either.isRight(expected)) {
            assert.deepStrictEqual(out, expected.right)
            assert.deepStrictEqual(handed, [])
          } else {
            assert.strictEqual(out, failed)
            assert.deepStrictEqual(handed, [expected.left])
          }
        }
      },
      { fastCheck: { numRuns: 1000 } }
    )
  }

  it.prop(
    "unknown types are kept whole and encode back to the same frame",
    [fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), fc.string({ minLength: 1 })],
    ([fields, type], ctx) => {
      counted(ctx)
      fc.pre(!ServerEvent.isKnownType(type))
      const wire = sanitize({ ...fields, type })
      const event = Either.getOrThrow(Codec.client.decodeUnknown(wire))
      assert.deepStrictEqual(event, { type: "unknown", eventType: type, payload: wire })
      assert.deepStrictEqual(JSON.parse(Either.getOrThrow(Codec.gateway.encode(event))), wire)
    }
  )
})

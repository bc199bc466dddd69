import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Codec from "../src/Codec.js"
import * as JsonSchema from "../src/JsonSchema.js"
import type { ProtocolError } from "../src/ProtocolError.js"
import { updateProtocolDoc } from "./fixtures/docs.js"
import { buildVectors, type VectorFile } from "./fixtures/vectors.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const vectorDir = path.join(root, "vectors")

const load = (): Array<[string, VectorFile]> =>
  ["client", "server"].flatMap((direction) =>
    fs
      .readdirSync(path.join(vectorDir, direction))
      .filter((name) => name.endsWith(".json"))
      .map((name): [string, VectorFile] => [
        `${direction}/${name}`,
        JSON.parse(fs.readFileSync(path.join(vectorDir, direction, name), "utf8"))
      ])
  )

const files = load()

const decoderFor = (
  file: VectorFile,
  options: Codec.CodecOptions = {}
): {
  decode: (frame: string) => Either.Either<unknown, ProtocolError>
  decodeOrElse: <B>(frame: string, orElse: (error: ProtocolError) => B) => unknown
  encode: (value: any) => Either.Either<string, ProtocolError>
} => {
  if (file.direction === "server") {
    const codec = Codec.makeClientCodec(options)
    const gateway = Codec.makeGatewayCodec(options)
    return { decode: codec.decode, decodeOrElse: codec.decodeOrElse, encode: (v: any) => gateway.encode(v) }
  }
  const codec = Codec.makeGatewayCodec(options)
  const client = Codec.makeClientCodec(options)
  return { decode: codec.decode, decodeOrElse: codec.decodeOrElse, encode: (v: any) => client.encode(v) }
}

describe("conformance vectors", () => {
  it("cover all 75 types with at least one valid example and at least 60 invalid frames", () => {
    const typed = files.filter(([, file]) => file.type !== null)
    assert.strictEqual(typed.length, 75)
    for (const [name, file] of typed) assert.isAbove(file.valid.length, 0, name)
    const invalid = files.reduce((n, [, file]) => n + file.invalid.length, 0)
    assert.isAtLeast(invalid, 60)
  })

  it("are up to date with the schemas (pnpm codegen)", () => {
    const expected = buildVectors()
    for (const [relative, content] of expected) {
      assert.strictEqual(fs.readFileSync(path.join(vectorDir, relative), "utf8"), content, relative)
    }
    assert.strictEqual(files.length, expected.size)
  })

  for (const [name, file] of files) {
    describe(name, () => {
      for (const vector of file.valid) {
        it(`accepts ${vector.name}`, ({ task }) => {
          Object.assign(task.meta, { table: "conformance vectors (valid)" })
          const { decode, decodeOrElse, encode } = decoderFor(file)
          const decoded = decode(vector.frame)
          assert.isTrue(Either.isRight(decoded), Either.isLeft(decoded) ? decoded.left.message : "")
          assert.deepStrictEqual(
            decodeOrElse(vector.frame, (error) => error.message),
            Either.getOrThrow(decoded)
          )
          const reencoded = encode(Either.getOrThrow(decoded))
          assert.deepStrictEqual(JSON.parse(Either.getOrThrow(reencoded)), vector.canonical)
        })
      }
      for (const vector of file.invalid) {
        it(`rejects ${vector.name}`, ({ task }) => {
          Object.assign(task.meta, { table: "conformance vectors (invalid)" })
          const { decode, decodeOrElse } = decoderFor(file, vector.options)
          const decoded = decode(vector.frame)
          assert.isTrue(Either.isLeft(decoded), "expected a ProtocolError")
          const error = Either.flip(decoded).pipe(Either.getOrThrow)
          assert.strictEqual(error.reason, vector.reason, error.message)
          assert.deepStrictEqual(error.path, vector.path, error.message)
          const handed = decodeOrElse(vector.frame, (error) => [error.reason, error.path])
          assert.deepStrictEqual(handed, [vector.reason, vector.path])
        })
      }
    })
  }
})

describe("JSON Schema", () => {
  it("the checked-in schema/protocol.schema.json is up to date (pnpm codegen)", () => {
    const onDisk = fs.readFileSync(path.join(root, "schema", "protocol.schema.json"), "utf8")
    assert.strictEqual(onDisk, JsonSchema.render())
  })

  it("defines every message and event", () => {
    const defs = (JsonSchema.make() as { $defs: Record<string, { title?: string }> }).$defs
    const titles = new Set(Object.values(defs).map((d) => d.title))
    for (const [, file] of files) if (file.type !== null) assert.isTrue(titles.has(file.type), file.type)
  })
})

describe("PROTOCOL.md", () => {
  it("its message reference is up to date (pnpm codegen)", () => {
    const file = path.join(root, "..", "..", "PROTOCOL.md")
    const text = fs.readFileSync(file, "utf8")
    assert.strictEqual(text, updateProtocolDoc(text))
  })
})

/**
 * Consumer 3, a gateway-side validator: what a gateway written in TypeScript does with the protocol
 * package alone. It first holds itself to the package's conformance vectors for the gateway side
 * (`vectors/client/*.json`, shipped in the tarball) and exits 1 if it disagrees with one. Then it
 * validates frames, one per line on stdin, and prints one JSON line per frame: `{ "accepted": message }`
 * or `{ "reply": <the error event to answer> }`. It adds one rule of its own, with the Schemas: a
 * `run_turn` with a blank prompt is refused.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as readline from "node:readline"
import { isDeepStrictEqual } from "node:util"
import { ClientMessage, Codec, ErrorCode, ServerEvent } from "@diminuendo/protocol"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const codec = Codec.makeGatewayCodec({ maxFrameBytes: 1024 * 1024 })
/** To re-encode a decoded client message (the vectors' round trip). */
const clientCodec = Codec.makeClientCodec()

// This gateway's rule on top of the protocol's: a turn needs a prompt.
const hasPrompt = Schema.is(ClientMessage.RunTurn.pipe(Schema.filter((message) => message.text.trim() !== "")))

const refuse = (code: ErrorCode.ErrorCode, message: string) => ({
  reply: ServerEvent.make("error", { code, message })
})

const validate = (frame: string) => {
  const decoded = codec.decode(frame)
  if (Either.isLeft(decoded)) return refuse(ErrorCode.fromProtocolError(decoded.left), decoded.left.message)
  const message = decoded.right
  if (ClientMessage.is("run_turn")(message) && !hasPrompt(message))
    return refuse(ErrorCode.ErrorCodes.InvalidMessage, "run_turn.text: is blank")
  return { accepted: message }
}

interface Vectors {
  readonly valid: ReadonlyArray<{ readonly name: string; readonly frame: string; readonly canonical: unknown }>
  readonly invalid: ReadonlyArray<{
    readonly name: string
    readonly frame: string
    readonly reason: string
    readonly path: ReadonlyArray<string | number>
    readonly options?: Codec.CodecOptions
  }>
}

/** Every gateway-side case of the package's conformance vectors; the names of those that disagree. */
const conformance = () => {
  const root = path.dirname(createRequire(import.meta.url).resolve("@diminuendo/protocol/package.json"))
  const dir = path.join(root, "vectors", "client")
  const failures: Array<string> = []
  let cases = 0
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".json"))) {
    const vectors: Vectors = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"))
    for (const vector of vectors.valid) {
      cases++
      const decoded = codec.decode(vector.frame)
      const again = Either.flatMap(decoded, clientCodec.encode)
      if (Either.isLeft(again) || !isDeepStrictEqual(JSON.parse(again.right), vector.canonical))
        failures.push(vector.name)
    }
    for (const vector of vectors.invalid) {
      cases++
      const decoded = (vector.options ? Codec.makeGatewayCodec(vector.options) : codec).decode(vector.frame)
      if (
        Either.isRight(decoded) ||
        decoded.left.reason !== vector.reason ||
        !isDeepStrictEqual(decoded.left.path, vector.path)
      )
        failures.push(vector.name)
    }
  }
  return { cases, failures }
}

const { cases, failures } = conformance()
if (failures.length > 0 || cases === 0) {
  console.error(`conformance vectors: ${failures.length} of ${cases} disagree: ${failures.join("; ")}`)
  process.exit(1)
}
console.error(`conformance vectors: all ${cases} cases agree`)

for await (const line of readline.createInterface({ input: process.stdin })) {
  console.log(JSON.stringify(validate(line)))
}

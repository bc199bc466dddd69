/**
 * Writes the generated artifacts: `schema/protocol.schema.json` and the conformance vectors under
 * `vectors/`. Run with `pnpm codegen`; tests fail when the checked-in files are stale.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as JsonSchema from "../src/JsonSchema.js"
import { updateProtocolDoc } from "../test/fixtures/docs.js"
import { buildVectors } from "../test/fixtures/vectors.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const write = (relative: string, content: string) => {
  const file = path.join(root, relative)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, content)
}

write("schema/protocol.schema.json", JsonSchema.render())

fs.rmSync(path.join(root, "vectors", "client"), { recursive: true, force: true })
fs.rmSync(path.join(root, "vectors", "server"), { recursive: true, force: true })
const files = buildVectors()
for (const [relative, content] of files) write(path.join("vectors", relative), content)
const protocolDoc = path.join(root, "..", "..", "PROTOCOL.md")
fs.writeFileSync(protocolDoc, updateProtocolDoc(fs.readFileSync(protocolDoc, "utf8")))
console.log(`wrote schema/protocol.schema.json, ${files.size} vector files and the reference in PROTOCOL.md`)

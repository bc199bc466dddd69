import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { blocksOf, exampleText, read, readmes, root } from "../blocks.js"

const examples = fs
  .readdirSync(path.join(root, "examples/consumers/readme"))
  .map((f) => `examples/consumers/readme/${f}`)
const blocks = readmes.flatMap((readme) => blocksOf(readme, read(readme)))

describe("README code blocks are example files that CI type-checks and runs (pnpm readme rewrites them)", () => {
  for (const block of blocks) {
    it(`${block.readme}:${block.line}: the ${block.lang} block is ${block.file ?? "(no example file)"}, word for word`, ({
      task
    }) => {
      Object.assign(task.meta, { table: "README code blocks" })
      assert.isDefined(
        block.file,
        "a program block needs a marker <!-- example: examples/consumers/readme/<file>.ts -->"
      )
      assert.include(examples, block.file!, "the marker names a file of examples/consumers/readme")
      assert.strictEqual(
        block.content,
        exampleText(block.file!),
        "differs from its file: pnpm readme copies the files in"
      )
    })
  }

  it("every example file is in exactly one README", () => {
    const used = blocks.flatMap((block) => (block.file === undefined ? [] : [block.file]))
    assert.deepStrictEqual([...used].sort(), [...examples].sort())
  })
})

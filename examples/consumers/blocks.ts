/**
 * The READMEs' TypeScript code blocks are the files of `readme/`: each block follows a marker
 * `<!-- example: examples/consumers/readme/<file>.ts -->` and holds that file, word for word.
 * `pnpm readme` writes the files into the READMEs; `test/readme.test.ts` fails when they differ.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** Every README of the repository whose code a newcomer might copy. */
export const readmes: ReadonlyArray<string> = [
  "README.md",
  "packages/protocol/README.md",
  "packages/client/README.md",
  "packages/testkit/README.md",
  "examples/web/README.md",
  "examples/consumers/README.md"
]

/** Languages whose blocks are programs (the others are shell commands, output or formats). */
const programs = new Set(["ts", "typescript", "tsx", "js", "javascript"])
const marker = /^<!-- example: (\S+) -->$/

export interface Block {
  readonly readme: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly lang: string
  /** The example file it must equal, from its marker. */
  readonly file: string | undefined
  readonly content: string
  /** Lines of the content, as indexes into the README's lines: [first, end). */
  readonly range: readonly [number, number]
}

export const blocksOf = (readme: string, text: string): ReadonlyArray<Block> => {
  const lines = text.split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i]!.match(/^```(\S*)\s*$/)
    if (open === null) continue
    let end = i + 1
    while (end < lines.length && lines[end] !== "```") end++
    let before = i - 1
    while (before >= 0 && lines[before]!.trim() === "") before--
    const file = before >= 0 ? lines[before]!.match(marker)?.[1] : undefined
    if (programs.has(open[1]!) || file !== undefined)
      blocks.push({
        readme,
        line: i + 1,
        lang: open[1]!,
        file,
        content: lines.slice(i + 1, end).join("\n"),
        range: [i + 1, end]
      })
    i = end
  }
  return blocks
}

export const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8")

/** The example file's text as a block holds it (without the final newline). */
export const exampleText = (file: string) => read(file).replace(/\n$/, "")

/** The README with every marked block replaced by its file. */
export const synced = (readme: string): string => {
  const lines = read(readme).split("\n")
  const blocks = blocksOf(readme, lines.join("\n"))
  for (const block of [...blocks].reverse())
    if (block.file !== undefined) lines.splice(block.range[0], block.range[1] - block.range[0], exampleText(block.file))
  return lines.join("\n")
}

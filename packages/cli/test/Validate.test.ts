/**
 * `diminuendo validate` on the protocol's conformance vectors gives exactly their verdicts, and its
 * line splitter holds no more than a frame's bound.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Codec } from "@diminuendo/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ExitCode from "../src/ExitCode.js"
import * as Lines from "../src/internal/lines.js"
import { cli, jsonLines } from "./run.js"

const vectors = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../protocol/vectors")

interface Case {
  readonly name: string
  readonly frame: string
  readonly reason?: string
  readonly path?: ReadonlyArray<string | number>
  readonly options?: { readonly maxFrameBytes?: number; readonly maxDepth?: number }
}

/** Every vector, grouped by what validate needs to be told: direction and frame bound. */
const groups = () => {
  const out = new Map<
    string,
    { direction: string; maxFrameBytes: number; maxDepth: number; cases: Array<Case & { valid: boolean }> }
  >()
  for (const direction of ["client", "server"]) {
    for (const name of fs.readdirSync(path.join(vectors, direction)).sort()) {
      const file = JSON.parse(fs.readFileSync(path.join(vectors, direction, name), "utf8"))
      for (const [valid, list] of [
        [true, file.valid],
        [false, file.invalid]
      ] as const) {
        for (const c of list as Array<Case>) {
          const maxFrameBytes = c.options?.maxFrameBytes ?? Codec.defaultMaxFrameBytes
          const maxDepth = c.options?.maxDepth ?? Codec.defaultMaxDepth
          const key = `${direction} ${maxFrameBytes} ${maxDepth}`
          if (!out.has(key)) out.set(key, { direction, maxFrameBytes, maxDepth, cases: [] })
          out.get(key)!.cases.push({ ...c, name: `${direction}/${name}: ${c.name}`, valid })
        }
      }
    }
  }
  return [...out.values()]
}

describe("diminuendo validate", () => {
  for (const group of groups()) {
    it.live(
      `on the ${group.direction} vectors (max ${group.maxFrameBytes} bytes, depth ${group.maxDepth}, ${group.cases.length} frames): exactly their verdicts`,
      ({ task }) =>
        Effect.gen(function* () {
          Object.assign(task.meta, {
            table: "conformance vectors through diminuendo validate",
            rows: group.cases.length
          })
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), "validate-"))
          const file = path.join(dir, "frames.jsonl")
          fs.writeFileSync(file, `${group.cases.map((c) => c.frame).join("\n")}\n`)
          const result = yield* cli([
            "validate",
            file,
            "--direction",
            group.direction,
            "--max-frame-bytes",
            String(group.maxFrameBytes),
            "--max-depth",
            String(group.maxDepth),
            "--json"
          ])
          fs.rmSync(dir, { recursive: true, force: true })
          const lines = jsonLines(result.stdout)
          const summary = lines.pop()!.summary
          const verdicts = new Map(lines.map((v) => [v.line as number, v]))
          group.cases.forEach((c, i) => {
            const verdict = verdicts.get(i + 1)
            if (c.valid) assert.isUndefined(verdict, `${c.name} should be valid: ${JSON.stringify(verdict)}`)
            else {
              assert.isDefined(verdict, `${c.name} should be invalid`)
              assert.strictEqual(verdict.reason, c.reason, c.name)
              assert.deepStrictEqual(verdict.path, c.path, c.name)
            }
          })
          const invalid = group.cases.filter((c) => !c.valid).length
          assert.strictEqual(summary.lines, group.cases.length)
          assert.strictEqual(summary.invalid, invalid)
          assert.strictEqual(result.code, invalid > 0 ? ExitCode.ExitCode.InvalidFrames : ExitCode.ExitCode.Ok)
        })
    )
  }

  it.live("a person's report: each invalid line with its reason, path and message, then a summary by type", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "validate-"))
      const file = path.join(dir, "capture.jsonl")
      fs.writeFileSync(
        file,
        [
          '{"type":"text_delta","sessionId":"s","turnId":"t","seq":1,"ts":0,"text":"hi"}',
          '{"type":"text_delta","sessionId":"s","turnId":"t","seq":-1,"ts":0,"text":"hi"}',
          '{"type":"session_list","sessions":[{"id":"s"}]}',
          '{"type":"future_event","x":1}',
          "not json"
        ].join("\r\n")
      )
      const result = yield* cli(["validate", file])
      fs.rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(result.code, ExitCode.ExitCode.InvalidFrames)
      const out = result.stdout.split("\n")
      assert.match(out[0]!, /^line 2: InvalidMessage at seq: text_delta\.seq: /)
      assert.match(out[1]!, /^line 3: InvalidMessage at sessions\[0\]\.tenantId: /)
      assert.match(out[2]!, /^line 5: InvalidJson at \(the frame\): /)
      assert.strictEqual(out[3], "5 frames (server direction): 2 valid, 3 invalid")
      assert.include(result.stdout, "future_event (unknown type)       1 valid")
      assert.match(result.stdout, /text_delta\s+1 valid {2}1 invalid/)
      const ok = yield* cli(["validate", "/nonexistent/frames.jsonl"])
      assert.strictEqual(ok.code, ExitCode.ExitCode.Usage)
    })
  )

  it.live(
    "a byte order mark at the start of the input is part of the first frame: invalid JSON, as the codec and its vector say; the next frame is checked as usual",
    () =>
      Effect.gen(function* () {
        // A peer would refuse that frame: validate reports it rather than strip the mark.
        const vector = (
          JSON.parse(fs.readFileSync(path.join(vectors, "server/_frames.json"), "utf8")).invalid as Array<Case>
        ).find((c) => c.name === "byte order mark")!
        assert.isTrue(vector.frame.startsWith("\uFEFF"))
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "validate-"))
        const file = path.join(dir, "bom.jsonl")
        fs.writeFileSync(file, '\uFEFF{"type":"heartbeat","ts":1}\n{"type":"heartbeat","ts":2}\n')
        const result = yield* cli(["validate", file, "--json"])
        const human = yield* cli(["validate", file])
        fs.rmSync(dir, { recursive: true, force: true })
        assert.strictEqual(result.code, ExitCode.ExitCode.InvalidFrames)
        const [verdict, { summary }] = jsonLines(result.stdout)
        assert.strictEqual(verdict.line, 1)
        assert.strictEqual(verdict.reason, vector.reason)
        assert.deepStrictEqual(verdict.path, vector.path)
        assert.deepStrictEqual(summary, {
          lines: 2,
          valid: 1,
          invalid: 1,
          validByType: { heartbeat: 1 },
          invalidByType: { "(no type)": 1 }
        })
        assert.match(human.stdout, /^line 1: InvalidJson at \(the frame\): /)
      })
  )
})

describe("the line splitter", () => {
  const split = (chunks: ReadonlyArray<string>, max: number) =>
    Stream.fromIterable(chunks.map((c) => new TextEncoder().encode(c))).pipe(
      (s) => Lines.split(s, max),
      Stream.runCollect,
      Effect.map(Chunk.toArray)
    )

  it.effect("lines across chunks, CRLF, an empty line, no line after the last newline", () =>
    Effect.gen(function* () {
      const lines = yield* split(['{"a"', ":1}\r\n\n", "x\ny"], 100)
      assert.deepStrictEqual(
        lines.map((l) => l.text),
        ['{"a":1}', "", "x", "y"]
      )
    })
  )

  it.effect("a line over the bound is cut (reported too large) and the next line is whole", () =>
    Effect.gen(function* () {
      const lines = yield* split(["a".repeat(50), "b".repeat(60), "\nshort\n"], 64)
      assert.deepStrictEqual(
        lines.map((l) => [l.tooLarge, l.text]),
        [
          [true, ""],
          [false, "short"]
        ]
      )
      assert.isAbove(lines[0]!.bytes, 64)
    })
  )

  it.effect("a byte order mark at the start is kept in the line, also when its bytes come in separate chunks", () =>
    Effect.gen(function* () {
      const bytes = new TextEncoder().encode('\uFEFF{"a":1}\n{"b":2}\n')
      const lines = yield* Stream.fromIterable([bytes.slice(0, 1), bytes.slice(1, 2), bytes.slice(2)]).pipe(
        (s) => Lines.split(s, 100),
        Stream.runCollect,
        Effect.map(Chunk.toArray)
      )
      assert.deepStrictEqual(
        lines.map((l) => [l.text, l.bytes]),
        [
          ['\uFEFF{"a":1}', 10],
          ['{"b":2}', 7]
        ]
      )
    })
  )

  it.effect("UTF-8 split inside a character is put back together", () =>
    Effect.gen(function* () {
      const bytes = new TextEncoder().encode("é👋\n")
      const lines = yield* Stream.fromIterable([bytes.slice(0, 1), bytes.slice(1, 4), bytes.slice(4)]).pipe(
        (s) => Lines.split(s, 100),
        Stream.runCollect,
        Effect.map(Chunk.toArray)
      )
      assert.deepStrictEqual(
        lines.map((l) => l.text),
        ["é👋"]
      )
    })
  )
})

/**
 * Runs the command line in the test's process (the bin's program, with its output captured and
 * its environment given), for tests that do not need a process of their own.
 */
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Cli from "../src/Cli.js"
import * as Interrupts from "../src/internal/interrupts.js"
import * as Stdio from "../src/internal/stdio.js"

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const text = (chunk: string | Uint8Array) => (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"))

/** `diminuendo ...args`, with `env` as its only environment variables. */
export const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    let stdout = ""
    let stderr = ""
    const streams: Stdio.Streams = {
      stdout: { write: (chunk) => void (stdout += text(chunk)), isTTY: false },
      stderr: { write: (chunk) => void (stderr += text(chunk)), isTTY: false },
      stdinIsTTY: false
    }
    const exit = yield* Cli.program(["node", "diminuendo", ...args]).pipe(
      Effect.provideService(Stdio.Stdio, streams),
      Effect.provideService(Interrupts.Interrupts, Interrupts.makeDispatcher().service),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.exit
    )
    const message = Cli.failureMessage(exit)
    if (message !== undefined) stderr += `${message}\n`
    return { code: Cli.exitCodeOf(exit), stdout, stderr } satisfies Result
  })

/** The JSON objects of a `--json` output, one per line. */
export const jsonLines = (stdout: string): Array<any> =>
  stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line))

/**
 * The process's standard streams, as a service with the real ones by default, so the commands can
 * run in a test's process with their output captured.
 *
 * @internal
 */
import * as Context from "effect/Context"

export interface Sink {
  readonly write: (text: string | Uint8Array) => void
  readonly isTTY: boolean
}

export interface Streams {
  readonly stdout: Sink
  readonly stderr: Sink
  /** Whether a person can answer a prompt (standard input is a terminal). */
  readonly stdinIsTTY: boolean
}

const sink = (stream: NodeJS.WriteStream): Sink => ({
  write: (text) => void stream.write(text),
  get isTTY() {
    return stream.isTTY === true
  }
})

export class Stdio extends Context.Reference<Stdio>()("@diminuendo/cli/Stdio", {
  defaultValue: (): Streams => ({
    stdout: sink(process.stdout),
    stderr: sink(process.stderr),
    get stdinIsTTY() {
      return process.stdin.isTTY === true
    }
  })
}) {}

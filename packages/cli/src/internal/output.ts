/**
 * Where a command writes: results on stdout (human text, or one JSON object per line with
 * `--json`), notes and progress on stderr. Styled only where that stream is a terminal.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stdio from "./stdio.js"
import * as Style from "./style.js"

export interface Output {
  readonly stdio: Stdio.Streams
  readonly json: boolean
  /** Styles for stdout. */
  readonly style: Style.Style
  /** Styles for stderr. */
  readonly errStyle: Style.Style
  /** Writes text as is (streamed text: the line stays open). */
  readonly write: (text: string) => Effect.Effect<void>
  /** Writes a whole line, ending an open one first. */
  readonly line: (text: string) => Effect.Effect<void>
  /** Ends the open line, if any (before a prompt). */
  readonly endLine: Effect.Effect<void>
  /** One JSON object on its own line. */
  readonly jsonLine: (value: unknown) => Effect.Effect<void>
  /** A line on stderr (ends an open stdout line first when both go to the same terminal). */
  readonly note: (text: string) => Effect.Effect<void>
  /**
   * Runs `effect`; when it takes longer than half a second, a progress line on stderr (a terminal
   * only) says what is waited for, cleared when it ends.
   */
  readonly during: (label: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/** The delay before a progress line shows. */
export const progressDelay = Duration.millis(500)

/** The output for the streams in context. */
export const make = (json: boolean): Effect.Effect<Output> => Effect.map(Stdio.Stdio, (stdio) => makeWith(stdio, json))

const makeWith = (stdio: Stdio.Streams, json: boolean): Output => {
  let open = false
  const out = (text: string) => {
    if (text.length === 0) return
    stdio.stdout.write(text)
    open = !text.endsWith("\n")
  }
  const endLine = () => {
    if (open) out("\n")
  }
  const progressOn = stdio.stderr.isTTY
  const during =
    (label: string) =>
    <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
      if (!progressOn) return effect
      let shown = false
      const spin = Effect.gen(function* () {
        yield* Effect.sleep(progressDelay)
        const started = Date.now()
        for (let i = 0; ; i++) {
          const seconds = ((Date.now() - started + Duration.toMillis(progressDelay)) / 1000).toFixed(1)
          shown = true
          stdio.stderr.write(`\r${frames[i % frames.length]} ${label} (${seconds}s)\u001b[K`)
          yield* Effect.sleep("100 millis")
        }
      })
      return Effect.acquireUseRelease(
        // Forked while acquiring (uninterruptible): the spinner itself must stay interruptible.
        Effect.forkDaemon(Effect.interruptible(spin)),
        () => effect,
        (fiber) =>
          Effect.zipRight(
            Fiber.interrupt(fiber),
            Effect.sync(() => {
              if (shown) stdio.stderr.write("\r\u001b[K")
            })
          )
      )
    }
  return {
    json,
    stdio,
    style: Style.make(Style.colorsFor(stdio.stdout)),
    errStyle: Style.make(Style.colorsFor(stdio.stderr)),
    write: (text) => Effect.sync(() => out(text)),
    endLine: Effect.sync(endLine),
    line: (text) =>
      Effect.sync(() => {
        endLine()
        out(`${text}\n`)
      }),
    jsonLine: (value) =>
      Effect.sync(() => {
        endLine()
        out(`${JSON.stringify(value)}\n`)
      }),
    note: (text) =>
      Effect.sync(() => {
        if (stdio.stdout.isTTY && stdio.stderr.isTTY) endLine()
        stdio.stderr.write(`${text}\n`)
      }),
    during
  }
}

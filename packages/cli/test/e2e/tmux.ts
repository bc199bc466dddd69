/**
 * A real terminal for the CLI: a tmux session on a private server, typed into with send-keys and
 * read with capture-pane.
 */
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import { bin, environment } from "./cli.js"

export interface Terminal {
  /** The screen as text (`escapes`: with colour escape sequences). */
  readonly screen: (escapes?: boolean) => string
  readonly keys: (...keys: ReadonlyArray<string>) => Effect.Effect<void>
  /** Waits until the screen satisfies `predicate`; fails with the screen after `ms`. */
  readonly waitFor: (predicate: (screen: string) => boolean, ms?: number) => Effect.Effect<string, Error>
  /** The exit code, once the command has ended (printed as EXIT=n). */
  readonly exitCode: (ms?: number) => Effect.Effect<number, Error>
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** Runs `diminuendo ...args` in a new 120x40 terminal; the tmux server is killed with the scope. */
export const open = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = `diminuendo-test-${randomUUID()}`
      const tmux = (...a: ReadonlyArray<string>) => execFileSync("tmux", ["-L", socket, ...a], { encoding: "utf8" })
      const command = `${[process.execPath, bin, ...args].map(quote).join(" ")}; echo EXIT=$?; sleep 600`
      execFileSync("tmux", ["-L", socket, "new-session", "-d", "-s", "cli", "-x", "120", "-y", "40", command], {
        env: { ...environment(env), TERM: "xterm-256color" }
      })
      const screen = (escapes = false) => tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", "cli")
      const waitFor = (predicate: (screen: string) => boolean, ms = 30_000) =>
        Effect.gen(function* () {
          const deadline = Date.now() + ms
          while (Date.now() < deadline) {
            const now = screen()
            if (predicate(now)) return now
            yield* Effect.sleep("50 millis")
          }
          return yield* Effect.fail(new Error(`the screen never matched:\n${screen()}`))
        })
      const terminal: Terminal = {
        screen,
        keys: (...keys) => Effect.sync(() => void tmux("send-keys", "-t", "cli", ...keys)),
        waitFor,
        exitCode: (ms) =>
          Effect.map(
            waitFor((s) => /EXIT=\d+/.test(s), ms),
            (s) => Number(/EXIT=(\d+)/.exec(s)![1])
          )
      }
      return { terminal, kill: () => tmux("kill-server") }
    }),
    ({ kill }) => Effect.sync(() => void kill())
  ).pipe(Effect.map(({ terminal }) => terminal))

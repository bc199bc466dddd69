/**
 * Runs the `diminuendo` bin (the workspace's, on the TypeScript source) as a child process.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"

export const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/diminuendo.js")

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment without this machine's DIMINUENDO_* and NO_COLOR, plus `env`. */
export const environment = (env: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("DIMINUENDO_") && key !== "NO_COLOR" && key !== "FORCE_COLOR") base[key] = value
  }
  return { ...base, ...env }
}

export interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Waits until stdout (or stderr) satisfies `predicate`; fails after `ms`. */
  readonly waitFor: (predicate: (stdout: string, stderr: string) => boolean, ms?: number) => Effect.Effect<void, Error>
  readonly exit: Effect.Effect<Result>
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/** Starts the CLI; it is killed when the scope closes if still running. */
export interface Options {
  readonly env?: Record<string, string>
  readonly input?: string
  /** Another bin to run (the testkit's `diminuendo-gateway`). */
  readonly bin?: string
}

export const start = (args: ReadonlyArray<string>, options: Options = {}) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const child = spawn(process.execPath, [options.bin ?? bin, ...args], {
        env: environment(options.env),
        stdio: ["pipe", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d))
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      if (options.input !== undefined) child.stdin!.end(options.input)
      else child.stdin!.end()
      const exited = new Promise<Result>((resolve) =>
        child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
      )
      return {
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        waitFor: (predicate, ms = 30_000) =>
          Effect.async<void, Error>((resume) => {
            const check = () => {
              if (predicate(stdout, stderr)) {
                cleanup()
                resume(Effect.void)
              }
            }
            const timer = setTimeout(() => {
              cleanup()
              resume(Effect.fail(new Error(`timed out waiting; stdout:\n${stdout}\nstderr:\n${stderr}`)))
            }, ms)
            const cleanup = () => {
              clearTimeout(timer)
              child.stdout!.off("data", check)
              child.stderr!.off("data", check)
              child.off("close", check)
            }
            child.stdout!.on("data", check)
            child.stderr!.on("data", check)
            child.on("close", check)
            check()
          }),
        exit: Effect.promise(() => exited),
        signal: (signal) => Effect.sync(() => void child.kill(signal))
      }
    }),
    (running) =>
      Effect.sync(() => {
        if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
      })
  )

/** Runs the CLI to its end (killed after 60 s). */
export const run = (args: ReadonlyArray<string>, options: Options = {}) =>
  Effect.scoped(
    Effect.flatMap(start(args, options), (running) =>
      running.exit.pipe(
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`diminuendo ${args.join(" ")} hung`) }),
        Effect.orDie
      )
    )
  )

/** The JSON objects of a `--json` output, one per line. */
export const jsonLines = (stdout: string): Array<any> =>
  stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line))

/**
 * Child processes for the install tests, as scoped Effects: a program run to its end, a service
 * kept running while the scope is open (killed when it closes), and the testkit gateway started
 * from the installed tarball.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export class ProcessError extends Data.TaggedError("ProcessError")<{ readonly message: string }> {}

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Options {
  readonly cwd: string
  /** Added to this process's environment; `undefined` removes a variable. */
  readonly env?: Record<string, string | undefined>
  readonly input?: string
}

const environment = (env: Options["env"] = {}) => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...process.env, ...env })) if (value !== undefined) out[key] = value
  return out
}

const exited = (child: ChildProcess, output: { stdout: string; stderr: string }) =>
  Effect.async<Finished>((resume) => {
    child.once("close", (code, signal) => resume(Effect.succeed({ code, signal, ...output })))
  })

const start = (command: string, args: ReadonlyArray<string>, options: Options) =>
  Effect.sync(() => {
    const child = spawn(command, args, { cwd: options.cwd, env: environment(options.env), stdio: "pipe" })
    const output = { stdout: "", stderr: "" }
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output.stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output.stderr += chunk))
    child.stdin.on("error", () => {})
    child.stdin.end(options.input ?? "")
    return { child, output }
  })

/** Runs a program to its end, within `timeout`: a program that does not end by itself fails the test. */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: Options & { readonly timeout?: Duration.DurationInput }
): Effect.Effect<Finished, ProcessError> =>
  Effect.acquireUseRelease(
    start(command, args, options),
    ({ child, output }) =>
      exited(child, output).pipe(
        Effect.timeoutFail({
          duration: options.timeout ?? "60 seconds",
          onTimeout: () =>
            new ProcessError({
              message: `${command} ${args.join(" ")} did not end by itself:\n${output.stdout}\n${output.stderr}`
            })
        })
      ),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

export interface Service {
  readonly child: ChildProcess
  readonly output: { readonly stdout: string; readonly stderr: string }
  /** Waits until stdout matches `pattern` (its first group, or the whole match). */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<string, ProcessError>
  /** Sends `signal` and waits for the process to exit. */
  readonly stop: (signal: NodeJS.Signals) => Effect.Effect<Finished, ProcessError>
}

/** A long-running process, killed when the scope closes. */
export const service = (
  command: string,
  args: ReadonlyArray<string>,
  options: Options
): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { child, output } = yield* Effect.acquireRelease(start(command, args, options), ({ child }) =>
      Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    const done = yield* Deferred.make<Finished>()
    yield* exited(child, output).pipe(
      Effect.flatMap((f) => Deferred.succeed(done, f)),
      Effect.forkScoped
    )
    const describe = () => `${command} ${args.join(" ")}:\n${output.stdout}\n${output.stderr}`
    return {
      child,
      output,
      waitFor: (pattern) => poll(pattern, output, done, describe),
      stop: (signal) =>
        Effect.sync(() => child.kill(signal)).pipe(
          Effect.zipRight(Deferred.await(done)),
          Effect.timeoutFail({
            duration: "10 seconds",
            onTimeout: () => new ProcessError({ message: `did not exit on ${signal}: ${describe()}` })
          })
        )
    } satisfies Service
  })

const poll = (
  pattern: RegExp,
  output: { readonly stdout: string },
  done: Deferred.Deferred<Finished>,
  describe: () => string
): Effect.Effect<string, ProcessError> =>
  Effect.gen(function* () {
    for (let i = 0; i < 600; i++) {
      const match = output.stdout.match(pattern)
      if (match !== null) return match[1] ?? match[0]
      if (yield* Deferred.isDone(done))
        return yield* new ProcessError({ message: `exited before printing ${pattern}: ${describe()}` })
      yield* Effect.sleep("50 millis")
    }
    return yield* new ProcessError({ message: `did not print ${pattern} within 30 s: ${describe()}` })
  })

/**
 * The testkit gateway, started from the installed tarball's `diminuendo-gateway` bin (npm links it
 * from the package's `bin`: a tarball without one fails here). It prints the URL first.
 */
export const gateway = (installDir: string): Effect.Effect<string, ProcessError, Scope.Scope> =>
  Effect.gen(function* () {
    const bin = path.join(installDir, "node_modules", ".bin", "diminuendo-gateway")
    if (!fs.existsSync(bin)) {
      return yield* new ProcessError({ message: `the installed testkit has no diminuendo-gateway bin: ${bin}` })
    }
    const process_ = yield* service(bin, ["--port", "0", "--step-ms", "5"], { cwd: installDir })
    return yield* process_.waitFor(/(ws:\/\/[^\s]+)/)
  })

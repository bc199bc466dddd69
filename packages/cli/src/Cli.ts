/**
 * `diminuendo`: the command line for Diminuendo gateways, on `@effect/cli`.
 *
 * @since 0.1.0
 */
import { isGatewayError } from "@diminuendo/client"
import { GatewayCommand } from "@diminuendo/testkit"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as ExitCode from "./ExitCode.js"
import * as Files from "./internal/commands/files.js"
import * as History from "./internal/commands/history.js"
import * as Info from "./internal/commands/info.js"
import * as Members from "./internal/commands/members.js"
import * as Mirror from "./internal/commands/mirror.js"
import * as Sessions from "./internal/commands/sessions.js"
import * as Tail from "./internal/commands/tail.js"
import * as Turn from "./internal/commands/turn.js"
import * as Validate from "./internal/commands/validate.js"
import { CliError } from "./internal/errors.js"
import * as Help from "./internal/help.js"
import * as Interrupts from "./internal/interrupts.js"
import * as Stdio from "./internal/stdio.js"
import * as Style from "./internal/style.js"

/**
 * The root command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("diminuendo").pipe(
  Command.withDescription(
    "Talk to a Diminuendo gateway from a terminal: what it says about itself, its sessions, members and files, " +
      "a turn run and answered, a session followed live, captured frames checked, a session's workspace mirrored, " +
      "and the testkit gateway to try it all on (ws://127.0.0.1:8787, the default URL)."
  ),
  Command.withSubcommands([
    Info.command,
    Sessions.command,
    Members.command,
    Files.command,
    History.history,
    History.events,
    Turn.command,
    Tail.command,
    Mirror.command,
    Validate.command,
    GatewayCommand.make("gateway")
  ])
)

/**
 * The version printed by `--version`.
 *
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

/**
 * Parses `argv` (as `process.argv`: runtime and script first) and runs the command.
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.run(command, { name: "diminuendo", version })

/**
 * The exit code a command's end maps to ({@link ExitCode}).
 *
 * @since 0.1.0
 * @category running
 */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return ExitCode.ExitCode.Ok
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (isGatewayError(error)) return ExitCode.byReason[error.reason]
    if (error instanceof CliError) return error.exitCode
    if (ValidationError.isValidationError(error)) return ExitCode.ExitCode.Usage
    return 1
  }
  return Cause.isInterruptedOnly(exit.cause) ? ExitCode.ExitCode.Interrupted : 1
}

/**
 * What a failure says on stderr (nothing for usage errors, printed with the usage already).
 *
 * @since 0.1.0
 * @category running
 */
export const failureMessage = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return undefined
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return `diminuendo: unexpected failure\n${Cause.pretty(exit.cause)}`
  const error = failure.value
  if (ValidationError.isValidationError(error)) return undefined
  if (isGatewayError(error)) return `diminuendo: ${error.reason}: ${error.message}`
  if (error instanceof CliError) return error.message === "" ? undefined : `diminuendo: ${error.message}`
  return `diminuendo: ${String(error)}`
}

/**
 * The whole command line as one Effect, for `argv` (as `process.argv`): help and output styled
 * only where the stream is a terminal and `NO_COLOR` is unset, logs on stderr (errors only, unless
 * `--log-level` says otherwise), the platform's Node services. Ctrl-C handling comes from the
 * caller ({@link main} wires SIGINT to it).
 *
 * @since 0.1.0
 * @category running
 */
export const program = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const stdio = yield* Stdio.Stdio
    const colors = Style.colorsFor(stdio.stdout)
    const plain = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? Style.strip(a) : a))
    const text = (args: ReadonlyArray<unknown>) => `${args.map(String).join(" ")}\n`
    const console = yield* Effect.console
    // The help and the usage errors @effect/cli prints go to the same streams as the rest.
    const args = argv.map((arg, i) => (i >= 2 && arg === "-" ? Validate.stdinArgument : arg))
    return yield* Effect.withConsole(run(args.length <= 2 ? [...args, "--help"] : args), {
      ...console,
      log: (...args) =>
        Effect.sync(() =>
          stdio.stdout.write(
            text((colors ? args : plain(args)).map((a) => (typeof a === "string" ? Help.compact(a) : a)))
          )
        ),
      error: (...args) => Effect.sync(() => stdio.stderr.write(text(plain(args))))
    })
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        NodeContext.layer,
        CliConfig.layer({ showBuiltIns: false }),
        Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.stringLogger))
      )
    ),
    Logger.withMinimumLogLevel(LogLevel.Error)
  )

/**
 * Runs the command line in this process: Ctrl-C (SIGINT) and SIGTERM go to the running command
 * (a second Ctrl-C during a turn exits), help and output are styled only on a terminal without
 * `NO_COLOR`, logs go to stderr (warnings and worse with `--log-level warning`), and the process
 * exits with the {@link ExitCode} of the outcome.
 *
 * @since 0.1.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>): void => {
  const dispatcher = Interrupts.makeDispatcher()
  const fiber = Effect.runFork(program(argv).pipe(Effect.provideService(Interrupts.Interrupts, dispatcher.service)))
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === "SIGINT" && dispatcher.press()) return
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  // `diminuendo ... | head`: a closed stdout ends the command quietly.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") fiber.unsafeInterruptAsFork(fiber.id())
  })
  fiber.addObserver((exit) => {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    const message = failureMessage(exit)
    if (message !== undefined) process.stderr.write(`${message}\n`)
    // Exits even when something still holds the event loop (a terminal on stdin does); what was
    // written is out already: writes to files, pipes and terminals are synchronous on POSIX.
    process.exit(exitCodeOf(exit))
  })
}

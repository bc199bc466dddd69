/**
 * The options every command that talks to a gateway takes, and the client they make.
 *
 * @internal
 */
import { GatewayClient, type GatewayError, NodeTransport } from "@diminuendo/client"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as ExitCode from "../ExitCode.js"
import { CliError, invalid } from "./errors.js"
import * as Output from "./output.js"

/** Where `pnpm gateway` (the testkit gateway) listens by default. */
export const defaultUrl = "ws://127.0.0.1:8787"

export const json = Options.boolean("json").pipe(
  Options.withDescription("Machine-readable output: one JSON object per line (streams: one per event).")
)

export const options = {
  url: Options.text("url").pipe(
    Options.withPseudoName("URL"),
    Options.withFallbackConfig(Config.string("DIMINUENDO_URL").pipe(Config.withDefault(defaultUrl))),
    Options.withDescription(`The gateway's WebSocket URL (env DIMINUENDO_URL; default ${defaultUrl}).`)
  ),
  tokenFile: Options.file("token-file").pipe(
    Options.withPseudoName("PATH"),
    Options.optional,
    Options.withDescription(
      "Read the token from this file (else from env DIMINUENDO_TOKEN; neither: dev mode). Never printed."
    )
  ),
  timeout: Options.float("timeout").pipe(
    Options.withPseudoName("SECONDS"),
    Options.withDefault(10),
    Options.mapEffect((seconds) =>
      seconds > 0 && Number.isFinite(seconds)
        ? Effect.succeed(seconds)
        : invalid(`--timeout is a positive number of seconds, got ${seconds}`)
    ),
    Options.withDescription("Seconds to wait for the connection and for each reply (default 10).")
  ),
  json
}

export type ConnectionOptions = {
  readonly url: string
  readonly tokenFile: Option.Option<string>
  readonly timeout: number
  readonly json: boolean
}

/** The token: from `--token-file`, else `DIMINUENDO_TOKEN`; undefined for none. */
export const token = (
  options: ConnectionOptions
): Effect.Effect<Redacted.Redacted<string> | undefined, CliError, FileSystem.FileSystem> =>
  Option.match(options.tokenFile, {
    onNone: () =>
      Config.option(Config.redacted("DIMINUENDO_TOKEN")).pipe(
        Effect.map(Option.getOrUndefined),
        Effect.orElseSucceed(() => undefined)
      ),
    onSome: (path) =>
      Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
        Effect.map((text) => Redacted.make(text.trim())),
        Effect.mapError(
          (error) =>
            new CliError({ message: `cannot read the token file: ${error.message}`, exitCode: ExitCode.ExitCode.Usage })
        )
      )
  })

/**
 * How a command reconnects after a drop. A command that follows a session (`tail`, `mirror`
 * without `--once`) reconnects for as long as it runs, as the client does by default; any other
 * gives up once reconnecting has not succeeded within `--timeout` (exponential from 250 ms, at
 * most 2 s apart), and then fails with NotConnected (exit 15) instead of waiting for a gateway
 * that is gone.
 */
const reconnectSchedule = (timeoutMs: number, follow: boolean) =>
  follow
    ? undefined
    : Schedule.exponential("250 millis").pipe(
        Schedule.either(Schedule.spaced("2 seconds")),
        Schedule.upTo(`${timeoutMs} millis`)
      )

/** Connects (a progress line past half a second); the client closes with the scope. */
export const connect = (
  options: ConnectionOptions,
  output: Output.Output,
  { follow = false }: { readonly follow?: boolean } = {}
): Effect.Effect<GatewayClient.GatewayClient, GatewayError | CliError, Scope.Scope | FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const secret = yield* token(options)
    const timeoutMs = Math.round(options.timeout * 1000)
    const timeout = `${timeoutMs} millis` as const
    const schedule = reconnectSchedule(timeoutMs, follow)
    return yield* GatewayClient.make({
      url: options.url,
      token: secret,
      requestTimeout: timeout,
      connectTimeout: timeout,
      ...(schedule === undefined ? {} : { reconnectSchedule: schedule })
    }).pipe(Effect.provide(NodeTransport.layer), output.during(`connecting to ${options.url}`))
  })

/**
 * Runs `f` with a connected client and the output `--json` asks for; the client closes after.
 * `follow`: the command follows a session for as long as it runs (see `reconnectSchedule`).
 */
export const withClient = <A, E, R>(
  options: ConnectionOptions,
  f: (client: GatewayClient.GatewayClient, output: Output.Output) => Effect.Effect<A, E, R>,
  settings: { readonly follow?: boolean } = {}
): Effect.Effect<A, E | GatewayError | CliError, Exclude<R, Scope.Scope> | FileSystem.FileSystem> =>
  Effect.scoped(
    Effect.gen(function* () {
      const output = yield* Output.make(options.json)
      const client = yield* connect(options, output, settings)
      return yield* f(client, output)
    })
  )

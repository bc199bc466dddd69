/**
 * The testkit gateway as a command line (`@effect/cli`): the `diminuendo-gateway` bin (`pnpm gateway`)
 * and `diminuendo gateway` of `@diminuendo/cli` are both this command.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Gateway from "./Gateway.js"
import * as WsServer from "./WsServer.js"

/**
 * The port the gateway listens on when `--port` is not given: fixed, so a browser page or a
 * `diminuendo` command can find it again after a restart.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultPort = 8787

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/**
 * `TOKEN=email`, in order: the first token's user is an admin of tenant "default", the others members.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseUsers = (
  specs: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<Gateway.User>, ValidationError.ValidationError> =>
  Effect.forEach(specs, (spec, index) => {
    const at = spec.indexOf("=")
    const token = spec.slice(0, at)
    const email = spec.slice(at + 1)
    if (at <= 0 || email === "") return invalid(`--token expects TOKEN=email, got "${spec}"`)
    return Effect.succeed<Gateway.User>({
      token,
      identity: { userId: `user-${index + 1}`, email, tenantId: "default" },
      role: index === 0 ? "admin" : "member"
    })
  })

const options = {
  port: Options.integer("port").pipe(
    Options.withPseudoName("N"),
    Options.withDefault(defaultPort),
    Options.mapEffect((port) =>
      Number.isInteger(port) && port >= 0 && port <= 65535
        ? Effect.succeed(port)
        : invalid(`--port is a TCP port (0 to 65535), got ${port}`)
    ),
    Options.withDescription(
      `TCP port to listen on (default ${defaultPort}); 0 picks a free one (the printed URL says which).`
    )
  ),
  host: Options.text("host").pipe(
    Options.withPseudoName("HOST"),
    Options.withDefault("127.0.0.1"),
    Options.withDescription("Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).")
  ),
  users: Options.text("token").pipe(
    Options.withPseudoName("TOKEN=email"),
    Options.repeated,
    Options.mapEffect(parseUsers),
    Options.withDescription(
      "A user who may sign in with TOKEN (repeatable). With at least one, authentication is required: " +
        'the first is an admin of tenant "default", the others members. Without any: dev mode, no authentication.'
    )
  ),
  stepMs: Options.integer("step-ms").pipe(
    Options.withPseudoName("MS"),
    Options.withDefault(20),
    Options.mapEffect((ms) => (ms >= 0 ? Effect.succeed(ms) : invalid(`--step-ms is 0 or more, got ${ms}`))),
    Options.withDescription(
      "Pause between the scripted agents' steps in milliseconds (default 20; 0: as fast as possible)."
    )
  ),
  noRequestIds: Options.boolean("no-request-ids").pipe(
    Options.withDescription("Neither advertise nor echo requestId: replies are matched by type, as the seeds do.")
  ),
  profile: Options.choice("profile", ["full", "seed"]).pipe(
    Options.withDefault("full" as const),
    Options.withDescription(
      "full (the default): every field this project designed; seed: exactly what the seeds' gateway sends."
    )
  ),
  json: Options.boolean("json").pipe(
    Options.withDescription('Print {"url":...,"requiresAuth":...} as one JSON line instead of the URL.')
  )
}

/**
 * What the command was given.
 *
 * @since 0.2.0
 * @category models
 */
export type GatewayCommandOptions = Command.Command.ParseConfig<typeof options>

/**
 * Serves a gateway built from the options and prints its URL on stdout (what to do next on
 * stderr), until interrupted (Ctrl-C), which closes every connection and the port.
 *
 * @since 0.2.0
 * @category handlers
 */
export const serve = (args: GatewayCommandOptions) =>
  Effect.gen(function* () {
    const users = args.users
    const gateway = yield* Gateway.make({
      users,
      agentStepMs: args.stepMs,
      requestIds: !args.noRequestIds,
      profile: args.profile
    })
    const server = yield* WsServer.serve(gateway, { host: args.host, port: args.port })
    const requiresAuth = gateway.options.requiresAuth
    yield* args.json
      ? Console.log(JSON.stringify({ url: server.url, requiresAuth, profile: args.profile }))
      : Console.log(server.url)
    yield* Console.error(
      users.length === 0
        ? "dev mode: no authentication; agents: echo, coding-agent. Ctrl-C to stop."
        : `authentication required: ${users.map((u) => u.identity.email).join(", ")}. Ctrl-C to stop.`
    )
    return yield* Effect.never
  }).pipe(Effect.scoped)

/**
 * The command, named `name` (`gateway` as a subcommand, `diminuendo-gateway` as a bin).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <Name extends string>(name: Name) =>
  Command.make(name, options, serve).pipe(
    Command.withDescription(
      "Start the testkit gateway (an in-memory gateway speaking the whole protocol, with the echo and " +
        "coding-agent agents) on a WebSocket and print its URL. Ctrl-C stops it."
    )
  )

/**
 * `diminuendo sessions [list|create|rename|archive|unarchive|delete]`.
 *
 * @internal
 */
import type { GatewayClient, GatewayError } from "@diminuendo/client"
import type { Shapes } from "@diminuendo/protocol"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Connection from "../connection.js"
import type * as Output from "../output.js"
import * as Render from "../render.js"

const sessionId = Args.text({ name: "session" }).pipe(Args.withDescription("The session's id."))

const archived = Options.boolean("archived").pipe(Options.withDescription("Include archived sessions."))

const printSession = (output: Output.Output, session: Shapes.SessionMeta) =>
  output.json ? output.jsonLine(session) : output.line(Render.sessionLine(session, output.style))

const listSessions = (options: Connection.ConnectionOptions & { readonly archived: boolean }) =>
  Connection.withClient(options, (client, output) =>
    Effect.gen(function* () {
      const sessions = yield* output.during("listing sessions")(client.listSessions(options.archived))
      for (const session of sessions) yield* printSession(output, session)
      if (!output.json && sessions.length === 0) yield* output.note(output.errStyle.dim("no sessions"))
    })
  )

const list = Command.make("list", { ...Connection.options, archived }, listSessions).pipe(
  Command.withDescription(
    "List the sessions (id, name, agent, status), one per line; with --json, one session object per line."
  )
)

const create = Command.make(
  "create",
  {
    ...Connection.options,
    agent: Args.text({ name: "agent" }).pipe(
      Args.withDescription("The agent type (the testkit has echo and coding-agent).")
    ),
    name: Options.text("name").pipe(
      Options.withPseudoName("NAME"),
      Options.optional,
      Options.withDescription("A name for the session.")
    )
  },
  (options) =>
    Connection.withClient(options, (client, output) =>
      Effect.flatMap(client.createSession(options.agent, Option.getOrUndefined(options.name)), (session) =>
        printSession(output, session)
      )
    )
).pipe(Command.withDescription("Create a session with an agent and print it (its id first)."))

const rename = Command.make(
  "rename",
  {
    ...Connection.options,
    session: sessionId,
    name: Args.text({ name: "name" }).pipe(Args.withDescription("The new name."))
  },
  (options) =>
    Connection.withClient(options, (client, output) =>
      Effect.flatMap(client.renameSession(options.session, options.name), (session) => printSession(output, session))
    )
).pipe(Command.withDescription("Rename a session."))

const simple = (
  name: "archive" | "unarchive" | "delete",
  description: string,
  act: (client: GatewayClient.GatewayClient, id: string, output: Output.Output) => Effect.Effect<void, GatewayError>
) =>
  Command.make(name, { ...Connection.options, session: sessionId }, (options) =>
    Connection.withClient(options, (client, output) => act(client, options.session, output))
  ).pipe(Command.withDescription(description))

const archive = simple(
  "archive",
  "Archive a session (hidden from `sessions list` without --archived).",
  (client, id, output) => Effect.flatMap(client.archiveSession(id), (session) => printSession(output, session))
)
const unarchive = simple("unarchive", "Bring an archived session back.", (client, id, output) =>
  Effect.flatMap(client.unarchiveSession(id), (session) => printSession(output, session))
)
const remove = simple("delete", "Delete a session for good.", (client, id, output) =>
  Effect.zipRight(
    client.deleteSession(id),
    output.json ? output.jsonLine({ deleted: id }) : output.line(`deleted ${id}`)
  )
)

export const command = Command.make("sessions").pipe(
  Command.withDescription("Sessions: list them, create, rename, archive, unarchive or delete one."),
  Command.withSubcommands([list, create, rename, archive, unarchive, remove])
)

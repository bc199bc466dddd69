/**
 * `diminuendo files [ls|cat|history|at]`: a session's workspace.
 *
 * @internal
 */
import type { ServerEvent } from "@diminuendo/protocol"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Connection from "../connection.js"
import type * as Output from "../output.js"

const session = Args.text({ name: "session" }).pipe(Args.withDescription("The session's id."))
const path = Args.text({ name: "path" }).pipe(Args.withDescription("A path in the session's workspace."))

const ls = Command.make(
  "ls",
  {
    ...Connection.options,
    session,
    path: Args.text({ name: "path" }).pipe(
      Args.withDescription("The directory to list (default: the workspace's root)."),
      Args.optional
    ),
    depth: Options.integer("depth").pipe(
      Options.withPseudoName("N"),
      Options.optional,
      Options.withDescription("Levels to list (0: all; default: what the gateway does, one level on the testkit).")
    )
  },
  (options) =>
    Connection.withClient(options, (client, output) =>
      Effect.gen(function* () {
        const entries = yield* client.listFiles({
          sessionId: options.session,
          path: Option.getOrElse(options.path, () => ""),
          ...Option.match(options.depth, { onNone: () => ({}), onSome: (depth) => ({ depth }) })
        })
        for (const entry of entries) {
          if (output.json) yield* output.jsonLine(entry)
          else if (entry.kind === "directory") yield* output.line(output.style.bold(`${entry.path}/`))
          else
            yield* output.line(
              `${entry.path}${output.style.dim(entry.size === undefined ? "" : `  ${entry.size} bytes`)}`
            )
        }
      })
    )
).pipe(Command.withDescription("List files and directories (directories end with /)."))

const printContent = (output: Output.Output, content: ServerEvent.FileContent) =>
  output.json
    ? output.jsonLine(content)
    : Effect.sync(() => {
        output.stdio.stdout.write(
          content.encoding === "base64" ? Buffer.from(content.content, "base64") : content.content
        )
      })

const cat = Command.make("cat", { ...Connection.options, session, path }, (options) =>
  Connection.withClient(options, (client, output) =>
    Effect.flatMap(client.readFile(options.session, options.path), (content) => printContent(output, content))
  )
).pipe(
  Command.withDescription(
    "Print a file's content as is (base64 content decoded); with --json, the gateway's file_content."
  )
)

const history = Command.make("history", { ...Connection.options, session, path }, (options) =>
  Connection.withClient(options, (client, output) =>
    Effect.gen(function* () {
      const versions = yield* client.fileHistory(options.session, options.path)
      for (const version of versions) {
        if (output.json) yield* output.jsonLine(version)
        else
          yield* output.line(
            `${output.style.bold(`iteration ${version.iteration}`)}  ${new Date(version.timestamp).toISOString()}  ${version.size} bytes  ${output.style.dim(version.hash)}`
          )
      }
    })
  )
).pipe(Command.withDescription("A file's versions: iteration, time, size and hash, oldest first."))

const at = Command.make(
  "at",
  {
    ...Connection.options,
    session,
    path,
    iteration: Args.integer({ name: "iteration" }).pipe(Args.withDescription("The iteration (see `files history`)."))
  },
  (options) =>
    Connection.withClient(options, (client, output) =>
      Effect.flatMap(client.fileAtIteration(options.session, options.path, options.iteration), (content) =>
        printContent(output, content)
      )
    )
).pipe(Command.withDescription("Print a file as it was at an iteration."))

export const command = Command.make("files").pipe(
  Command.withDescription("A session's workspace: ls, cat, history (a file's versions), at (a file at an iteration)."),
  Command.withSubcommands([ls, cat, history, at])
)

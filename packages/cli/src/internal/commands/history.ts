/**
 * `diminuendo history` and `diminuendo events`: a session's past, one page at a time.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Connection from "../connection.js"
import * as Render from "../render.js"

const page = {
  ...Connection.options,
  session: Args.text({ name: "session" }).pipe(Args.withDescription("The session's id.")),
  afterSeq: Options.integer("after-seq").pipe(
    Options.withPseudoName("N"),
    Options.optional,
    Options.withDescription("Only what came after the event with this seq.")
  ),
  limit: Options.integer("limit").pipe(
    Options.withPseudoName("N"),
    Options.optional,
    Options.withDescription("At most this many (default: the gateway's page size).")
  )
}

const fields = (options: {
  readonly session: string
  readonly afterSeq: Option.Option<number>
  readonly limit: Option.Option<number>
}) => ({
  sessionId: options.session,
  ...Option.match(options.afterSeq, { onNone: () => ({}), onSome: (afterSeq) => ({ afterSeq }) }),
  ...Option.match(options.limit, { onNone: () => ({}), onSome: (limit) => ({ limit }) })
})

export const history = Command.make("history", page, (options) =>
  Connection.withClient(options, (client, output) =>
    Effect.gen(function* () {
      const messages = yield* output.during("fetching the history")(client.getHistory(fields(options)))
      const s = output.style
      for (const message of messages) {
        if (output.json) yield* output.jsonLine(message)
        else
          yield* output.line(
            `${s.dim(new Date(message.createdAt).toISOString())} ${s.bold(message.role)}: ${message.content}`
          )
      }
    })
  )
).pipe(Command.withDescription("A session's messages (user, assistant, ...), oldest first."))

export const events = Command.make("events", page, (options) =>
  Connection.withClient(options, (client, output) =>
    Effect.gen(function* () {
      const list = yield* output.during("fetching the events")(client.getEvents(fields(options)))
      for (const event of list) {
        if (output.json) yield* output.jsonLine(Render.frame(event))
        else yield* output.line(Render.eventLine(event, output.style))
      }
    })
  )
).pipe(
  Command.withDescription(
    "A session's logged events, one per line (seq, type, what it says); with --json, each as the gateway sent it."
  )
)

/**
 * `diminuendo turn <session | --new AGENT> TEXT`: runs a turn and streams it. The agent's questions
 * and permission requests are answered by flags (`--answer id=value`, `--approve`, `--deny`), else
 * by a prompt on a terminal; with neither, the turn is stopped and the command exits 3. The first
 * Ctrl-C sends `stop_turn` (the turn ends with what it has), a second one exits at once.
 *
 * @internal
 */
import type { GatewayClient, GatewayError } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as ExitCode from "../../ExitCode.js"
import * as Connection from "../connection.js"
import { CliError, invalid } from "../errors.js"
import * as Interrupts from "../interrupts.js"
import type * as Output from "../output.js"
import * as Render from "../render.js"

interface Answers {
  readonly approve: boolean
  readonly deny: boolean
  readonly answers: HashMap.HashMap<string, string>
  /** A person is at a terminal to ask. */
  readonly interactive: boolean
}

type Asked = Effect.Effect<void, GatewayError | CliError, Prompt.Prompt.Environment>

const unanswered = (client: GatewayClient.GatewayClient, sessionId: string, message: string) =>
  Effect.zipRight(
    Effect.ignore(client.stopTurn(sessionId)),
    Effect.fail(new CliError({ message, exitCode: ExitCode.ExitCode.Unanswered }))
  )

/** Runs a prompt; Ctrl-C inside it (the terminal is raw then) counts as a press. */
const ask = <A>(prompt: Prompt.Prompt<A>, press: () => void) =>
  Prompt.run(prompt).pipe(
    Effect.map(Option.some),
    Effect.catchTag("QuitException", () => Effect.as(Effect.sync(press), Option.none<A>()))
  )

const question = (
  client: GatewayClient.GatewayClient,
  output: Output.Output,
  flags: Answers,
  event: ServerEvent.QuestionRequested,
  press: () => void
): Asked =>
  Effect.gen(function* () {
    const s = output.style
    const answers: Record<string, string> = {}
    for (const q of event.questions) {
      const given = HashMap.get(flags.answers, q.id)
      if (Option.isSome(given)) {
        answers[q.id] = given.value
        if (!output.json) yield* output.line(s.yellow(`? ${q.prompt} `) + s.dim(`${given.value} (--answer ${q.id})`))
        continue
      }
      if (!flags.interactive) {
        return yield* unanswered(
          client,
          event.sessionId,
          `the agent asks "${q.prompt}" and nothing answers it: pass --answer ${q.id}=VALUE${q.options === undefined ? "" : ` (${q.options.join(", ")})`} or run in a terminal`
        )
      }
      yield* output.endLine
      const other = "\u0000other"
      let picked: Option.Option<string> = Option.none()
      if (q.options !== undefined && q.options.length > 0) {
        picked = yield* ask(
          Prompt.select({
            message: q.prompt,
            choices: [
              ...q.options.map((option) => ({ title: option, value: option })),
              ...(q.allowFreeText === true ? [{ title: "something else…", value: other }] : [])
            ]
          }),
          press
        )
        if (Option.isNone(picked)) return
      }
      if (Option.isNone(picked) || picked.value === other) {
        picked = yield* ask(Prompt.text({ message: q.prompt }), press)
        if (Option.isNone(picked)) return
      }
      answers[q.id] = picked.value
    }
    yield* client.answer(event.sessionId, event.requestId, answers)
  })

const permission = (
  client: GatewayClient.GatewayClient,
  output: Output.Output,
  flags: Answers,
  event: ServerEvent.PermissionRequested,
  press: () => void
): Asked =>
  Effect.gen(function* () {
    const s = output.style
    const what = `${event.toolName}: ${event.description}${event.args === undefined ? "" : ` ${JSON.stringify(event.args)}`}`
    let approve: boolean
    if (flags.approve || flags.deny) {
      approve = flags.approve
      if (!output.json)
        yield* output.line(s.yellow(`? allow ${what} `) + s.dim(approve ? "approved (--approve)" : "denied (--deny)"))
    } else if (flags.interactive) {
      yield* output.endLine
      const answer = yield* ask(Prompt.confirm({ message: `Allow ${what}?`, initial: false }), press)
      if (Option.isNone(answer)) return
      approve = answer.value
    } else {
      return yield* unanswered(
        client,
        event.sessionId,
        `the agent asks permission for ${what} and nothing answers it: pass --approve or --deny, or run in a terminal`
      )
    }
    yield* approve ? client.approve(event.sessionId, event.requestId) : client.deny(event.sessionId, event.requestId)
  })

export const command = Command.make(
  "turn",
  {
    ...Connection.options,
    // One positional list: @effect/cli does not backtrack from an optional argument to a required one.
    words: Args.text({ name: "session> <text" }).pipe(
      Args.between(1, 2),
      Args.withDescription("SESSION TEXT: run the turn in that session; TEXT alone with --new AGENT.")
    ),
    agent: Options.text("new").pipe(
      Options.withPseudoName("AGENT"),
      Options.optional,
      Options.withDescription("Create a session with this agent first (its id is printed on stderr).")
    ),
    name: Options.text("name").pipe(
      Options.withPseudoName("NAME"),
      Options.optional,
      Options.withDescription("The new session's name (with --new).")
    ),
    approve: Options.boolean("approve").pipe(Options.withDescription("Approve every permission the agent asks for.")),
    deny: Options.boolean("deny").pipe(Options.withDescription("Deny every permission the agent asks for.")),
    answers: Options.keyValueMap("answer").pipe(
      Options.withPseudoName("ID=VALUE"),
      Options.optional,
      Options.withDescription("Answer the agent's question ID with VALUE (repeatable).")
    )
  },
  (options) =>
    Effect.gen(function* () {
      if (options.approve && options.deny) return yield* invalid("--approve and --deny: choose one")
      const [first, second] = options.words
      const hasSession = second !== undefined
      if (hasSession === Option.isSome(options.agent)) {
        return yield* invalid("give SESSION TEXT, or --new AGENT TEXT to create a session (not both)")
      }
      const text = second ?? first!
      const interrupts = yield* Interrupts.Interrupts
      return yield* Connection.withClient(options, (client, output) =>
        Effect.gen(function* () {
          const flags: Answers = {
            approve: options.approve,
            deny: options.deny,
            answers: Option.getOrElse(options.answers, () => HashMap.empty<string, string>()),
            interactive: !output.json && output.stdio.stdinIsTTY && output.stdio.stdout.isTTY
          }
          let sessionId: string
          if (Option.isSome(options.agent)) {
            const session = yield* client.createSession(options.agent.value, Option.getOrUndefined(options.name))
            sessionId = session.id
            if (output.json) yield* output.jsonLine({ type: "session_created", session })
            else yield* output.note(output.errStyle.dim(`session ${session.id} (${session.agentType})`))
          } else {
            sessionId = first!
          }

          // Ctrl-C: the first stops the turn, the second quits.
          const presses = yield* Queue.unbounded<void>()
          const quit = yield* Deferred.make<never, CliError>()
          const press = () => void presses.unsafeOffer(undefined)
          yield* interrupts.register(press)
          let stopping = false
          yield* Effect.forkScoped(
            Effect.forever(
              Effect.gen(function* () {
                yield* Queue.take(presses)
                if (stopping) {
                  yield* Deferred.fail(quit, new CliError({ message: "", exitCode: ExitCode.ExitCode.Interrupted }))
                  return
                }
                stopping = true
                yield* output.note(output.errStyle.yellow("stopping the turn (Ctrl-C again to quit)"))
                yield* client
                  .stopTurn(sessionId)
                  .pipe(
                    Effect.catchAll((error) =>
                      output.note(output.errStyle.red(`could not stop the turn: ${error.message}`))
                    )
                  )
              })
            )
          )

          const handle = (item: GatewayClient.SessionItem): Asked => {
            if (output.json) {
              const printed = output.jsonLine(Render.frame(item))
              if (item.type === "question_requested")
                return Effect.zipRight(printed, question(client, output, flags, item, press))
              if (item.type === "permission_requested")
                return Effect.zipRight(printed, permission(client, output, flags, item, press))
              return printed
            }
            if (item.type === "question_requested") return question(client, output, flags, item, press)
            if (item.type === "permission_requested") return permission(client, output, flags, item, press)
            return Render.turnItem(item, output)
          }

          const run = client.turn(sessionId, text).pipe(Stream.runForEach(handle))
          yield* Effect.raceFirst(run, Deferred.await(quit))
          if (!output.json) yield* output.endLine
          if (stopping) return yield* new CliError({ message: "", exitCode: ExitCode.ExitCode.Interrupted })
        })
      )
    })
).pipe(
  Command.withDescription(
    "Run a turn and stream it as it arrives: text, thinking (dimmed), tool calls and results, terminal output. The agent's questions and permission requests are answered by --answer/--approve/--deny, else at a prompt on a terminal; with neither the turn is stopped (exit 3). Ctrl-C stops the turn; a second Ctrl-C quits."
  )
)

/**
 * `diminuendo tail <session> [--after-seq N]`: follows a session's events, across reconnects, each
 * once and in order; what the gateway no longer had when the client came back shows as a gap.
 *
 * @internal
 */
import { ConnectionState } from "@diminuendo/client"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Connection from "../connection.js"
import { invalid } from "../errors.js"
import * as Render from "../render.js"

export const command = Command.make(
  "tail",
  {
    ...Connection.options,
    session: Args.text({ name: "session" }).pipe(Args.withDescription("The session to follow.")),
    afterSeq: Options.integer("after-seq").pipe(
      Options.withPseudoName("N"),
      Options.optional,
      Options.withDescription("Replay the retained events after this seq first (0: all of them), then follow.")
    ),
    count: Options.integer("count").pipe(
      Options.withPseudoName("N"),
      Options.optional,
      Options.withDescription("Stop after N events (gaps count too); without it, follow until Ctrl-C.")
    )
  },
  (options) =>
    Effect.gen(function* () {
      if (Option.isSome(options.afterSeq) && options.afterSeq.value < 0)
        return yield* invalid("--after-seq is 0 or more")
      return yield* Connection.withClient(
        options,
        (client, output) =>
          Effect.gen(function* () {
            const es = output.errStyle
            // Subscribed before joining: the replay and everything after it is in `items`.
            const items = yield* client.subscribeSession(options.session)
            const snapshot = yield* output.during(`joining ${options.session}`)(
              client.joinSession(options.session, Option.getOrUndefined(options.afterSeq))
            )
            if (output.json) yield* output.jsonLine(Render.frame(snapshot))
            else {
              const session = snapshot.session
              yield* output.note(
                es.dim(
                  `${session.name ?? session.id} (${session.agentType}, ${session.status}), ${snapshot.subscriberCount} subscriber(s)` +
                    (snapshot.currentTurn === null ? "" : `; turn ${snapshot.currentTurn.turnId} in progress`) +
                    "; following, Ctrl-C to stop"
                )
              )
            }
            let lost = false
            yield* client.state.changes.pipe(
              Stream.runForEach((state) =>
                ConnectionState.$match(state, {
                  Connecting: () => Effect.void,
                  Connected: () => {
                    if (!lost) return Effect.void
                    lost = false
                    return output.note(es.green("reconnected; resuming after the last event shown"))
                  },
                  Reconnecting: ({ attempt, delayMs, reason }) => {
                    lost = true
                    return output.note(
                      es.yellow(`${reason}; reconnecting in ${Math.round(delayMs)} ms (attempt ${attempt})`)
                    )
                  },
                  Closed: ({ reason }) => output.note(es.red(`connection closed: ${reason}`))
                })
              ),
              Effect.forkScoped
            )
            yield* client.diagnostics.pipe(
              Stream.runForEach((d) => output.note(es.dim(`discarded from the gateway: ${d.reason}: ${d.message}`))),
              Effect.forkScoped
            )
            const limited = Option.match(options.count, { onNone: () => items, onSome: (n) => Stream.take(items, n) })
            // A client that gives up reconnecting (its credentials refused) fails the session's
            // stream with NotConnected: exit 15.
            yield* limited.pipe(
              Stream.runForEach((item) =>
                output.json ? output.jsonLine(Render.frame(item)) : output.line(Render.eventLine(item, output.style))
              )
            )
          }),
        { follow: true }
      )
    })
).pipe(
  Command.withDescription(
    "Follow a session's events as they happen, one per line (seq, type, what it says), across reconnects: each event once, in order, and a gap line for what the gateway no longer had. --json: each event as the gateway sent it, the join's state_snapshot first."
  )
)

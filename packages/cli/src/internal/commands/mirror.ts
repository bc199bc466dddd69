/**
 * `diminuendo mirror <session> <dir>`: keeps a local copy of a session's workspace
 * (`WorkspaceMirror` of `@diminuendo/client`), reporting conflicts and refused paths.
 *
 * @internal
 */
import { WorkspaceMirror } from "@diminuendo/client"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ExitCode from "../../ExitCode.js"
import * as Connection from "../connection.js"
import { CliError } from "../errors.js"
import type * as Output from "../output.js"

const describe = (output: Output.Output, status: WorkspaceMirror.MirrorStatus) => {
  const s = output.style
  const state =
    status.state === "active" ? s.green("active") : status.state === "paused" ? s.yellow("paused") : s.red("error")
  const when =
    status.lastSyncAt === undefined ? "not synced yet" : `synced ${new Date(status.lastSyncAt).toISOString()}`
  return `${state}: ${status.filesTracked} file(s) tracked, ${when}${status.conflicts.length === 0 ? "" : s.yellow(`, ${status.conflicts.length} conflict(s)`)}${status.error === undefined ? "" : `: ${status.error}`}`
}

const conflictLine = (output: Output.Output, conflict: WorkspaceMirror.Conflict) =>
  output.style.yellow(
    conflict.change === "modified"
      ? `conflict: ${conflict.path} was edited here and changed upstream; upstream's version is in ${conflict.upstreamPath} (--keep-local or --take-upstream ${conflict.path})`
      : `conflict: ${conflict.path} was edited here and deleted upstream (--keep-local or --take-upstream ${conflict.path})`
  )

const mirrorError = (error: WorkspaceMirror.MirrorError) =>
  new CliError({ message: error.message, exitCode: ExitCode.ExitCode.Mirror })

export const command = Command.make(
  "mirror",
  {
    ...Connection.options,
    session: Args.text({ name: "session" }).pipe(Args.withDescription("The session whose workspace to mirror.")),
    directory: Args.directory({ name: "dir", exists: "either" }).pipe(
      Args.withDescription("The local directory (created if missing; its journal is .diminuendo/mirror.json).")
    ),
    once: Options.boolean("once").pipe(Options.withDescription("Sync once (and resolve what is asked), then exit.")),
    keepLocal: Options.text("keep-local").pipe(
      Options.withPseudoName("PATH"),
      Options.repeated,
      Options.withDescription("Resolve the conflict on PATH by keeping the local file (repeatable).")
    ),
    takeUpstream: Options.text("take-upstream").pipe(
      Options.withPseudoName("PATH"),
      Options.repeated,
      Options.withDescription("Resolve the conflict on PATH by taking upstream's version (repeatable).")
    )
  },
  (options) =>
    Connection.withClient(
      options,
      (client, output) =>
        Effect.gen(function* () {
          const mirror = yield* output
            .during(`syncing ${options.session} into ${options.directory}`)(
              WorkspaceMirror.make(client, { sessionId: options.session, directory: options.directory })
            )
            .pipe(Effect.catchTag("MirrorError", (e) => Effect.fail(mirrorError(e))))
          for (const path of options.keepLocal) yield* Effect.mapError(mirror.keepLocal(path), mirrorError)
          for (const path of options.takeUpstream) yield* Effect.mapError(mirror.takeUpstream(path), mirrorError)
          const first = yield* mirror.status.get
          // What was reported already, by identity; only what is still in the status is remembered.
          let reported = new Set<string>()
          const report = (status: WorkspaceMirror.MirrorStatus) =>
            Effect.gen(function* () {
              if (output.json) return yield* output.jsonLine(status)
              const now = new Set<string>()
              for (const refusal of status.refused) {
                const key = `refused ${refusal.path}@${refusal.at}`
                now.add(key)
                if (!reported.has(key))
                  yield* output.line(output.style.red(`refused: ${JSON.stringify(refusal.path)} ${refusal.reason}`))
              }
              for (const conflict of status.conflicts) {
                const key = `conflict ${conflict.path}@${conflict.detectedAt}`
                now.add(key)
                if (!reported.has(key)) yield* output.line(conflictLine(output, conflict))
              }
              reported = now
              const line = describe(output, status)
              if (line !== last) yield* output.line(line)
              last = line
            })
          let last = ""
          yield* report(first)
          if (options.once) return
          yield* mirror.status.changes.pipe(Stream.runForEach(report), Effect.forkScoped)
          yield* mirror.done.pipe(Effect.catchTag("MirrorError", (e) => Effect.fail(mirrorError(e))))
        }),
      { follow: !options.once }
    )
).pipe(
  Command.withDescription(
    "Mirror a session's workspace into a local directory and keep it up to date as the agent writes (one way: nothing is sent back). A file edited here is never overwritten: upstream's version goes next to it (name.upstream.ext) and the conflict is reported until --keep-local or --take-upstream resolves it. Paths that would escape the directory are refused. Ctrl-C stops."
  )
)

/**
 * `diminuendo validate [FILE|-]`: checks captured frames (JSON Lines: one frame per line, an empty
 * line is an empty frame) with the protocol's codec, as a gateway (`--direction client`) or a client
 * (`--direction server`) would decode them.
 *
 * @internal
 */
import { Codec, type ProtocolError } from "@diminuendo/protocol"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as ExitCode from "../../ExitCode.js"
import * as Connection from "../connection.js"
import { CliError, invalid } from "../errors.js"
import * as Lines from "../lines.js"
import * as Output from "../output.js"

/**
 * What `-` (standard input) is passed to the command as: @effect/cli reads a lone "-" as an option.
 * A NUL cannot come from a shell, so no real argument is taken for it.
 */
export const stdinArgument = "\u0000stdin"

/** What one line was found to be. */
export type Verdict =
  | { readonly line: number; readonly valid: true; readonly type: string }
  | {
      readonly line: number
      readonly valid: false
      readonly reason: ProtocolError["reason"]
      readonly path: ProtocolError["path"]
      readonly message: string
      readonly messageType: string | undefined
    }

export const checker = (direction: "client" | "server", maxFrameBytes: number, maxDepth?: number) => {
  const options = { maxFrameBytes, ...(maxDepth === undefined ? {} : { maxDepth }) }
  const decode: (frame: string) => Either.Either<{ readonly type: string }, ProtocolError> =
    direction === "server" ? Codec.makeClientCodec(options).decode : Codec.makeGatewayCodec(options).decode
  return (line: number, frame: Lines.Line): Verdict => {
    if (frame.tooLarge) {
      return {
        line,
        valid: false,
        reason: "FrameTooLarge",
        path: [],
        message: `frame exceeds the maximum of ${maxFrameBytes} bytes`,
        messageType: undefined
      }
    }
    return Either.match(decode(frame.text), {
      onLeft: (error): Verdict => ({
        line,
        valid: false,
        reason: error.reason,
        path: error.path,
        message: error.message,
        messageType: error.messageType
      }),
      onRight: (value): Verdict => ({
        line,
        valid: true,
        type:
          "eventType" in value && value.type === "unknown" ? `${String(value.eventType)} (unknown type)` : value.type
      })
    })
  }
}

const pathText = (path: ProtocolError["path"]) =>
  path.length === 0
    ? "(the frame)"
    : path
        .map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`))
        .join("")
        .slice(1)

export const command = Command.make(
  "validate",
  {
    input: Args.text({ name: "FILE|-" }).pipe(
      Args.withDefault(stdinArgument),
      Args.withDescription("A file of frames, one per line (JSON Lines); - or nothing: standard input.")
    ),
    direction: Options.choice("direction", ["client", "server"]).pipe(
      Options.withDefault("server" as const),
      Options.withDescription(
        "server (the default): frames a gateway sent, decoded as a client does (unknown event types are valid); client: frames a client sent, decoded as a gateway does."
      )
    ),
    maxFrameBytes: Options.integer("max-frame-bytes").pipe(
      Options.withPseudoName("N"),
      Options.withDefault(Codec.defaultMaxFrameBytes),
      Options.mapEffect((n) => (n > 0 ? Effect.succeed(n) : invalid(`--max-frame-bytes is positive, got ${n}`))),
      Options.withDescription(
        `Frames longer than this many UTF-8 bytes are FrameTooLarge (default ${Codec.defaultMaxFrameBytes}, 16 MiB); a line is never held past it.`
      )
    ),
    maxDepth: Options.integer("max-depth").pipe(
      Options.withPseudoName("N"),
      Options.withDefault(Codec.defaultMaxDepth),
      Options.mapEffect((n) => (n > 0 ? Effect.succeed(n) : invalid(`--max-depth is positive, got ${n}`))),
      Options.withDescription(
        `Free JSON (tool arguments, metadata) nested deeper than this is FrameTooDeep (default ${Codec.defaultMaxDepth}).`
      )
    ),
    json: Connection.json
  },
  (options) =>
    Effect.gen(function* () {
      const output = yield* Output.make(options.json)
      const s = output.style
      const check = checker(options.direction, options.maxFrameBytes, options.maxDepth)
      const fs = yield* FileSystem.FileSystem
      const source =
        options.input === stdinArgument
          ? Lines.stdin
          : fs.stream(options.input).pipe(
              Stream.mapError(
                (error) =>
                  new CliError({
                    message: `cannot read ${options.input}: ${error.message}`,
                    exitCode: ExitCode.ExitCode.Usage
                  })
              )
            )
      const valid = new Map<string, number>()
      const invalidByType = new Map<string, number>()
      let lines = 0
      let invalidCount = 0
      yield* Lines.split(source, options.maxFrameBytes).pipe(
        Stream.runForEach((frame) =>
          Effect.suspend(() => {
            lines += 1
            const verdict = check(lines, frame)
            if (verdict.valid) {
              valid.set(verdict.type, (valid.get(verdict.type) ?? 0) + 1)
              return Effect.void
            }
            invalidCount += 1
            const type = verdict.messageType ?? "(no type)"
            invalidByType.set(type, (invalidByType.get(type) ?? 0) + 1)
            return output.json
              ? output.jsonLine(verdict)
              : output.line(
                  `${s.bold(`line ${verdict.line}`)}: ${s.red(verdict.reason)} at ${s.cyan(pathText(verdict.path))}: ${verdict.message}`
                )
          })
        )
      )
      const sorted = (map: Map<string, number>) => Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)))
      if (output.json) {
        yield* output.jsonLine({
          summary: {
            lines,
            valid: lines - invalidCount,
            invalid: invalidCount,
            validByType: sorted(valid),
            invalidByType: sorted(invalidByType)
          }
        })
      } else {
        const width = Math.max(4, ...[...valid.keys(), ...invalidByType.keys()].map((t) => t.length))
        yield* output.line(
          `${s.bold(`${lines} frame${lines === 1 ? "" : "s"}`)} (${options.direction} direction): ${s.green(`${lines - invalidCount} valid`)}, ${invalidCount === 0 ? "0 invalid" : s.red(`${invalidCount} invalid`)}`
        )
        const types = new Set([...valid.keys(), ...invalidByType.keys()])
        for (const type of [...types].sort()) {
          const bad = invalidByType.get(type) ?? 0
          yield* output.line(
            `  ${type.padEnd(width)}  ${String(valid.get(type) ?? 0).padStart(6)} valid${bad === 0 ? "" : s.red(`  ${bad} invalid`)}`
          )
        }
      }
      if (invalidCount > 0) return yield* new CliError({ message: "", exitCode: ExitCode.ExitCode.InvalidFrames })
    })
).pipe(
  Command.withDescription(
    "Check captured frames (JSON Lines, one frame per line) with the protocol's codec: each invalid line is printed with its ProtocolError reason, path and message, then a summary by type. Exits 1 if any frame is invalid."
  )
)

/**
 * The workspace mirror's journal (`.diminuendo/mirror.json` in the directory): for each file
 * written from upstream its path, iteration and SHA-256, and the conflicts waiting; loaded when
 * the mirror starts (it must be this session's) and saved, atomically, after each change.
 * Failures are the fields of a `MirrorError`, which `WorkspaceMirror` wraps.
 *
 * @internal
 */
import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { isNotFound, writeAtomic } from "./mirrorFiles.js"
import { journalFolder } from "./mirrorPaths.js"

/** See `WorkspaceMirror.Conflict`. */
export const Conflict = Schema.Struct({
  /** The file's path in the workspace (and under the directory). */
  path: Schema.String,
  /** `modified`: upstream has a new version; `deleted`: upstream deleted the file. */
  change: Schema.Literal("modified", "deleted"),
  /** Where the upstream version was written, next to the local file (absent for a deletion). */
  upstreamPath: Schema.optional(Schema.String),
  /** The upstream version's iteration, when the gateway says. */
  iteration: Schema.optional(Schema.Number),
  /** SHA-256 (hex) of the upstream version's bytes. */
  hash: Schema.optional(Schema.String),
  detectedAt: Schema.Number
})

const JournalEntry = Schema.Struct({
  path: Schema.String,
  iteration: Schema.optional(Schema.Number),
  hash: Schema.String
})

/** See `WorkspaceMirror.Journal`. */
export const Journal = Schema.Struct({
  version: Schema.Literal(1),
  sessionId: Schema.String,
  files: Schema.Array(JournalEntry),
  conflicts: Schema.Array(Conflict)
})

const decodeJournal = Schema.decodeUnknownEither(Schema.parseJson(Journal))
const encodeJournal = Schema.encodeSync(Schema.parseJson(Journal, { space: 2 }))

/** What the journal says of a file written from upstream. */
export interface Entry {
  readonly iteration: number | undefined
  readonly hash: string
}

/** The fields of a `MirrorError`. */
export interface Failure {
  readonly reason: "FileSystem" | "Journal"
  readonly message: string
  readonly cause?: unknown
}

export const fileSystemFailure =
  (what: string) =>
  (cause: PlatformError.PlatformError): Failure => ({
    reason: "FileSystem",
    message: `${what}: ${cause.message}`,
    cause
  })

/** The journal in memory, and where it is saved. */
export interface State {
  readonly path: string
  readonly sessionId: string
  readonly files: Map<string, Entry>
  readonly conflicts: Map<string, Schema.Schema.Type<typeof Conflict>>
}

/** Reads the journal under `root`: empty when there is none; a failure when it is another session's. */
export const load = (
  fs: FileSystem.FileSystem,
  paths: Path.Path,
  root: string,
  sessionId: string
): Effect.Effect<State, Failure> =>
  Effect.gen(function* () {
    const path = paths.join(root, journalFolder, "mirror.json")
    const state: State = { path, sessionId, files: new Map(), conflicts: new Map() }
    const existing = yield* fs.readFileString(path).pipe(
      Effect.map((text) => text as string | undefined),
      Effect.catchIf(isNotFound, () => Effect.succeed(undefined)),
      Effect.mapError(fileSystemFailure(`cannot read ${path}`))
    )
    if (existing === undefined) return state
    const journal = decodeJournal(existing)
    if (Either.isLeft(journal)) {
      return yield* Effect.fail<Failure>({ reason: "Journal", message: `${path} is not a mirror journal` })
    }
    if (journal.right.sessionId !== sessionId) {
      return yield* Effect.fail<Failure>({
        reason: "Journal",
        message: `${root} mirrors session ${journal.right.sessionId}, not ${sessionId}`
      })
    }
    for (const entry of journal.right.files)
      state.files.set(entry.path, { iteration: entry.iteration, hash: entry.hash })
    for (const conflict of journal.right.conflicts) state.conflicts.set(conflict.path, conflict)
    return state
  })

/** Writes the journal (to a temporary file renamed into place). */
export const save = (fs: FileSystem.FileSystem, paths: Path.Path, state: State): Effect.Effect<void, Failure> =>
  Effect.suspend(() => {
    const text = encodeJournal({
      version: 1,
      sessionId: state.sessionId,
      files: [...state.files].map(([path, e]) => ({
        path,
        hash: e.hash,
        ...(e.iteration === undefined ? {} : { iteration: e.iteration })
      })),
      conflicts: [...state.conflicts.values()]
    })
    return writeAtomic(fs, paths, state.path, new TextEncoder().encode(text)).pipe(
      Effect.mapError(fileSystemFailure(`cannot write ${state.path}`))
    )
  })

/**
 * A one-way mirror of a session's workspace in a local directory, as the seeds' desktop app keeps
 * one (Chronicle local-sync) so people can open an agent's files in their editor while it works.
 * The protocol reads files and announces changes (`file_changed`) but writes none, so changes flow
 * from the gateway to the directory only, and a local edit is never overwritten:
 *
 * - An initial sync lists the workspace (`list_files`) and fetches each file (`read_file`); then
 *   every `file_changed` (created, modified, deleted) is fetched and applied as it comes.
 * - A journal (`.diminuendo/mirror.json` in the directory) records what was written from upstream:
 *   path, iteration and SHA-256 of the bytes. A file whose bytes no longer match is a local edit
 *   (a file deleted locally counts as one too).
 * - An upstream change to a locally edited file is a conflict: the local file stays, the upstream
 *   version goes next to it (`name.upstream.ext`), and the conflict is in the status until
 *   {@link WorkspaceMirror.keepLocal} or {@link WorkspaceMirror.takeUpstream} resolves it.
 * - After a reconnect the client resumes the session's events where it stopped; a gap (events the
 *   gateway no longer has) triggers a full sync. On a restart the journal says what is here: a
 *   tracked file whose latest upstream iteration (`file_history`) is the journal's is not fetched.
 * - A path from the gateway that is empty, absolute, has a `..` segment, a backslash or a NUL, lies
 *   under `.diminuendo/`, or goes through a symbolic link in the directory is refused (reported in
 *   the status, never written). Files are written to a temporary name and renamed into place, so a
 *   symbolic link at the target is replaced, never followed.
 *
 * On `@effect/platform`'s `FileSystem` and `Path` (`NodeContext.layer` from
 * `@effect/platform-node` on Node).
 *
 * @since 0.2.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Subscribable from "effect/Subscribable"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"

/**
 * A local edit that an upstream change met.
 *
 * @since 0.2.0
 * @category schemas
 */
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

/**
 * @since 0.2.0
 * @category models
 */
export interface Conflict extends Schema.Schema.Type<typeof Conflict> {}

const JournalEntry = Schema.Struct({
  path: Schema.String,
  iteration: Schema.optional(Schema.Number),
  hash: Schema.String
})

/**
 * What the journal file holds. Files are an array of entries (not an object keyed by path), so no
 * path from a gateway can be an object key (`__proto__`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const Journal = Schema.Struct({
  version: Schema.Literal(1),
  sessionId: Schema.String,
  files: Schema.Array(JournalEntry),
  conflicts: Schema.Array(Conflict)
})

/**
 * A path from the gateway that was not written, and why.
 *
 * @since 0.2.0
 * @category models
 */
export interface Refusal {
  readonly path: string
  readonly reason: string
  readonly at: number
}

/**
 * Where the mirror stands, as the seeds' `sync_status` reports it, with the conflicts waiting.
 *
 * - `active`: connected and following.
 * - `paused`: the client is (re)connecting; changes are picked up where they stopped.
 * - `error`: the mirror stopped (`error` says why; {@link WorkspaceMirror.done} fails with it).
 *
 * @since 0.2.0
 * @category models
 */
export interface MirrorStatus {
  readonly state: "active" | "paused" | "error"
  readonly filesTracked: number
  /** When the directory last caught up with the gateway (epoch ms). */
  readonly lastSyncAt: number | undefined
  readonly conflicts: ReadonlyArray<Conflict>
  /** The latest refused paths (at most {@link maxRefusals}). */
  readonly refused: ReadonlyArray<Refusal>
  readonly error: string | undefined
}

/**
 * Refused paths kept in the status.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxRefusals = 100

/**
 * Directories listed one by one when the gateway does not list every level at once; more is a
 * gateway misbehaving.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxDirectories = 10_000

/**
 * - `FileSystem`: the directory or the journal cannot be read or written.
 * - `Journal`: the journal is not one this mirror wrote, or belongs to another session.
 * - `NoConflict`: `keepLocal`/`takeUpstream` on a path with no conflict.
 *
 * @since 0.2.0
 * @category errors
 */
export class MirrorError extends Data.TaggedError("MirrorError")<{
  readonly reason: "FileSystem" | "Journal" | "NoConflict"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * @since 0.2.0
 * @category models
 */
export interface WorkspaceMirror {
  readonly status: Subscribable.Subscribable<MirrorStatus>
  /** Keeps the local file as it is; the upstream version next to it is removed. */
  readonly keepLocal: (path: string) => Effect.Effect<void, MirrorError>
  /** Replaces the local file with the upstream version (or deletes it, for an upstream deletion). */
  readonly takeUpstream: (path: string) => Effect.Effect<void, MirrorError>
  /** A full sync now (what a gap triggers). */
  readonly sync: Effect.Effect<void, MirrorError | GatewayError>
  /** Completes when the mirror stops following: fails with what stopped it, or never while it runs. */
  readonly done: Effect.Effect<void, MirrorError | GatewayError>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface MirrorOptions {
  readonly sessionId: string
  /** The local directory (created if missing). */
  readonly directory: string
}

/**
 * The journal's folder inside the mirrored directory; upstream paths under it are refused.
 *
 * @since 0.2.0
 * @category constants
 */
export const journalFolder = ".diminuendo"

/**
 * Where an upstream version goes when it meets a local edit: `src/add.ts` -> `src/add.upstream.ts`,
 * `Makefile` -> `Makefile.upstream`, `.gitignore` -> `.gitignore.upstream`.
 *
 * @since 0.2.0
 * @category naming
 */
export const upstreamName = (path: string): string => {
  const slash = path.lastIndexOf("/")
  const dot = path.lastIndexOf(".")
  return dot > slash + 1 ? `${path.slice(0, dot)}.upstream${path.slice(dot)}` : `${path}.upstream`
}

/**
 * A gateway path as segments under the directory, or why it is refused (symbolic links are
 * checked against the directory separately).
 *
 * @since 0.2.0
 * @category paths
 */
export const checkPath = (path: string): Either.Either<ReadonlyArray<string>, string> => {
  if (path.includes("\u0000")) return Either.left("contains a NUL character")
  if (path.includes("\\")) return Either.left("contains a backslash")
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) return Either.left("is absolute")
  const segments = path.split("/").filter((s) => s !== "" && s !== ".")
  if (segments.length === 0) return Either.left("is empty")
  if (segments.includes("..")) return Either.left("escapes the directory (..)")
  if (segments[0] === journalFolder) return Either.left(`is under ${journalFolder}/, the mirror's own folder`)
  return Either.right(segments)
}

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("")

/** SHA-256 of `bytes`, hex (WebCrypto: Node, browsers, Deno, Bun). */
const sha256 = (bytes: Uint8Array) =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", bytes)).pipe(Effect.map(hex))

const decodeContent = (content: { readonly content: string; readonly encoding: string }): Uint8Array =>
  content.encoding === "base64"
    ? Uint8Array.from(atob(content.content), (c) => c.charCodeAt(0))
    : new TextEncoder().encode(content.content)

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

const isNotFound = (error: PlatformError.PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"

const decodeJournal = Schema.decodeUnknownEither(Schema.parseJson(Journal))
const encodeJournal = Schema.encodeSync(Schema.parseJson(Journal, { space: 2 }))

interface Entry {
  readonly iteration: number | undefined
  readonly hash: string
}

interface Upstream {
  readonly bytes: Uint8Array
  readonly hash: string
  readonly iteration: number | undefined
}

const latestOf = <V extends { readonly iteration: number }>(versions: ReadonlyArray<V>): V | undefined =>
  versions.reduce<V | undefined>((max, v) => (max === undefined || v.iteration > max.iteration ? v : max), undefined)

/**
 * Starts mirroring: loads the journal, joins the session, syncs, then follows the session's file
 * changes until the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  client: GatewayClient.GatewayClient,
  options: MirrorOptions
): Effect.Effect<WorkspaceMirror, MirrorError | GatewayError, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const { sessionId } = options
    const root = paths.resolve(options.directory)
    const journalPath = paths.join(root, journalFolder, "mirror.json")
    const fsError = (what: string) => (cause: PlatformError.PlatformError) =>
      new MirrorError({ reason: "FileSystem", message: `${what}: ${cause.message}`, cause })

    yield* fs
      .makeDirectory(paths.join(root, journalFolder), { recursive: true })
      .pipe(Effect.mapError(fsError(`cannot create ${root}`)))

    // ----- the journal -----------------------------------------------------------------------
    const files = new Map<string, Entry>()
    const conflicts = new Map<string, Conflict>()
    const existing = yield* fs.readFileString(journalPath).pipe(
      Effect.map((text) => text as string | undefined),
      Effect.catchIf(isNotFound, () => Effect.succeed(undefined)),
      Effect.mapError(fsError(`cannot read ${journalPath}`))
    )
    if (existing !== undefined) {
      const journal = decodeJournal(existing)
      if (Either.isLeft(journal)) {
        return yield* new MirrorError({ reason: "Journal", message: `${journalPath} is not a mirror journal` })
      }
      if (journal.right.sessionId !== sessionId) {
        return yield* new MirrorError({
          reason: "Journal",
          message: `${root} mirrors session ${journal.right.sessionId}, not ${sessionId}`
        })
      }
      for (const entry of journal.right.files) files.set(entry.path, { iteration: entry.iteration, hash: entry.hash })
      for (const conflict of journal.right.conflicts) conflicts.set(conflict.path, conflict)
    }

    const connection = yield* client.state.get
    const status = yield* SubscriptionRef.make<MirrorStatus>({
      state: connection._tag === "Connected" ? "active" : "paused",
      filesTracked: files.size,
      lastSyncAt: undefined,
      conflicts: [...conflicts.values()],
      refused: [],
      error: undefined
    })
    const update = (f: (s: MirrorStatus) => MirrorStatus) => SubscriptionRef.update(status, f)
    const publish = (synced: boolean) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        update((s) => ({
          ...s,
          filesTracked: files.size,
          conflicts: [...conflicts.values()],
          ...(synced ? { lastSyncAt: now } : {})
        }))
      )

    const save = Effect.suspend(() => {
      const text = encodeJournal({
        version: 1,
        sessionId,
        files: [...files].map(([path, e]) => ({
          path,
          hash: e.hash,
          ...(e.iteration === undefined ? {} : { iteration: e.iteration })
        })),
        conflicts: [...conflicts.values()]
      })
      return writeAtomic(journalPath, new TextEncoder().encode(text)).pipe(
        Effect.mapError(fsError(`cannot write ${journalPath}`))
      )
    })

    // ----- files -----------------------------------------------------------------------------
    const writeAtomic = (target: string, bytes: Uint8Array) =>
      Effect.gen(function* () {
        const temporary = paths.join(
          paths.dirname(target),
          `.${paths.basename(target)}.diminuendo-${Math.random().toString(36).slice(2, 10)}`
        )
        yield* fs.makeDirectory(paths.dirname(target), { recursive: true })
        // "wx": never through something already there (a planted link); the rename replaces a link at the target.
        yield* fs.writeFile(temporary, bytes, { flag: "wx" })
        yield* fs.rename(temporary, target).pipe(Effect.tapError(() => Effect.ignore(fs.remove(temporary))))
      })

    const refuse = (path: string, reason: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        update((s) => ({ ...s, refused: [...s.refused, { path, reason, at }].slice(-maxRefusals) }))
      )

    /** The absolute path of a checked path, after making sure no link lies on the way to it. */
    const locate = (path: string): Effect.Effect<string | undefined> =>
      Either.match(checkPath(path), {
        onLeft: (reason) => Effect.as(refuse(path, reason), undefined),
        onRight: (segments) =>
          Effect.gen(function* () {
            for (let i = 1; i <= segments.length; i++) {
              const prefix = paths.join(root, ...segments.slice(0, i))
              const link = yield* fs.readLink(prefix).pipe(Effect.either)
              if (Either.isRight(link)) {
                yield* refuse(path, `goes through a symbolic link (${segments.slice(0, i).join("/")})`)
                return undefined
              }
              if (isNotFound(link.left)) break
            }
            return paths.join(root, ...segments)
          })
      })

    const relative = (path: string) => Either.getOrThrow(checkPath(path)).join("/")

    const readLocal = (absolute: string) =>
      fs.readFile(absolute).pipe(
        Effect.map((bytes): Uint8Array | undefined => bytes),
        Effect.catchIf(isNotFound, () => Effect.succeed(undefined))
      )

    /** Runs a file operation; a failure on one file refuses that file and the mirror goes on. */
    const perFile = (path: string, effect: Effect.Effect<void, PlatformError.PlatformError>) =>
      Effect.catchAll(effect, (error) => refuse(path, `cannot be written here: ${error.message}`))

    const removeUpstreamCopy = (conflict: Conflict | undefined) =>
      conflict?.upstreamPath === undefined
        ? Effect.void
        : Effect.flatMap(locate(conflict.upstreamPath), (absolute) =>
            absolute === undefined ? Effect.void : Effect.ignore(fs.remove(absolute))
          )

    const now = Clock.currentTimeMillis

    /** An upstream version of `path` arrives. */
    const apply = (path: string, upstream: Upstream) =>
      Effect.gen(function* () {
        const absolute = yield* locate(path)
        if (absolute === undefined) return
        yield* perFile(
          path,
          Effect.gen(function* () {
            const rel = relative(path)
            const entry = files.get(rel)
            const local = yield* readLocal(absolute)
            const localHash = local === undefined ? undefined : yield* sha256(local)
            const settle = Effect.gen(function* () {
              files.set(rel, { iteration: upstream.iteration, hash: upstream.hash })
              yield* removeUpstreamCopy(conflicts.get(rel))
              conflicts.delete(rel)
            })
            if (localHash === upstream.hash) return yield* settle
            const edited = entry === undefined ? local !== undefined : localHash !== entry.hash
            if (!edited) {
              yield* writeAtomic(absolute, upstream.bytes)
              return yield* settle
            }
            const upstreamPath = upstreamName(rel)
            const upstreamAbsolute = yield* locate(upstreamPath)
            if (upstreamAbsolute === undefined) return
            yield* writeAtomic(upstreamAbsolute, upstream.bytes)
            conflicts.set(rel, {
              path: rel,
              change: "modified",
              upstreamPath,
              ...(upstream.iteration === undefined ? {} : { iteration: upstream.iteration }),
              hash: upstream.hash,
              detectedAt: yield* now
            })
          })
        )
      })

    /** Upstream deleted `path`. */
    const applyDelete = (path: string, iteration: number | undefined) =>
      Effect.gen(function* () {
        const absolute = yield* locate(path)
        if (absolute === undefined) return
        yield* perFile(
          path,
          Effect.gen(function* () {
            const rel = relative(path)
            const entry = files.get(rel)
            const previous = conflicts.get(rel)
            yield* removeUpstreamCopy(previous)
            conflicts.delete(rel)
            // Never written from upstream: whatever is here is the user's own file.
            if (entry === undefined) return
            const local = yield* readLocal(absolute)
            if (local === undefined || (yield* sha256(local)) === entry.hash) {
              if (local !== undefined) yield* fs.remove(absolute)
              files.delete(rel)
              return
            }
            conflicts.set(rel, {
              path: rel,
              change: "deleted",
              ...(iteration === undefined ? {} : { iteration }),
              detectedAt: yield* now
            })
          })
        )
      })

    const fetch = (path: string, iteration: number | undefined) =>
      client.readFile(sessionId, path).pipe(
        Effect.flatMap((content) => {
          const bytes = decodeContent(content)
          return Effect.map(sha256(bytes), (hash): Upstream | undefined => ({
            bytes,
            hash,
            iteration: content.iteration ?? iteration
          }))
        }),
        // Gone since it was announced or listed: its deletion is on its way.
        Effect.catchIf(
          (error) => error.reason === "ServerError" && error.code === "FILE_NOT_FOUND",
          () => Effect.succeed(undefined)
        )
      )

    /** Every file of the workspace (directories listed one by one when the gateway lists one level). */
    const listAll = Effect.gen(function* () {
      const found = new Set<string>()
      const listed = new Set<string>()
      const queue = [""]
      while (queue.length > 0 && listed.size < maxDirectories) {
        const dir = queue.shift()!
        listed.add(dir)
        const entries = yield* client.listFiles({ sessionId, path: dir, depth: 0 }).pipe(
          Effect.catchIf(
            (error) => dir === "" && error.reason === "ServerError" && error.code === "FILE_NOT_FOUND",
            () => Effect.succeed([])
          )
        )
        for (const entry of entries) {
          if (entry.kind === "file") found.add(entry.path)
        }
        for (const entry of entries) {
          if (entry.kind !== "directory" || listed.has(entry.path)) continue
          const prefix = `${entry.path.replace(/\/+$/, "")}/`
          if (!entries.some((e) => e.path.startsWith(prefix))) queue.push(entry.path)
          else listed.add(entry.path)
        }
      }
      return found
    })

    const reconcile = Effect.gen(function* () {
      const upstream = yield* listAll
      const seen = new Set<string>()
      for (const path of upstream) {
        const checked = checkPath(path)
        if (Either.isLeft(checked)) {
          yield* refuse(path, checked.left)
          continue
        }
        const rel = checked.right.join("/")
        seen.add(rel)
        const entry = files.get(rel)
        const conflict = conflicts.get(rel)
        let latest: { readonly iteration: number; readonly hash: string } | undefined
        if (entry !== undefined || conflict !== undefined) {
          // Unchanged upstream when its latest iteration is the one we have, or its hash our hash
          // (a gateway that hashes with SHA-256 too and names no iteration in file_content).
          latest = latestOf(yield* client.fileHistory(sessionId, path))
          if (latest !== undefined) {
            if (entry !== undefined && (latest.iteration === entry.iteration || latest.hash === entry.hash)) {
              files.set(rel, { iteration: latest.iteration, hash: entry.hash })
              continue
            }
            if (latest.iteration === conflict?.iteration || latest.hash === conflict?.hash) continue
          }
        }
        const version = yield* fetch(path, latest?.iteration)
        if (version !== undefined) yield* apply(path, version)
      }
      for (const rel of [...files.keys(), ...conflicts.keys()]) {
        if (!seen.has(rel)) yield* applyDelete(rel, undefined)
      }
      yield* save
      yield* publish(true)
    })

    const lock = yield* Effect.makeSemaphore(1)
    const locked = <A, E>(effect: Effect.Effect<A, E>) => lock.withPermits(1)(effect)

    const onChange = (event: {
      readonly path: string
      readonly change: string
      readonly iteration?: number | undefined
    }) =>
      Effect.gen(function* () {
        if (event.change === "deleted") {
          yield* applyDelete(event.path, event.iteration)
        } else {
          // Refused before anything is fetched.
          if ((yield* locate(event.path)) === undefined) return
          const rel = relative(event.path)
          const known = files.get(rel)?.iteration ?? conflicts.get(rel)?.iteration
          if (known !== undefined && event.iteration !== undefined && known >= event.iteration) return
          const version = yield* fetch(event.path, event.iteration)
          if (version !== undefined) yield* apply(event.path, version)
        }
        yield* save
        yield* publish(true)
      })

    // ----- follow ----------------------------------------------------------------------------
    const items = yield* client.subscribeSession(sessionId)
    yield* client.joinSession(sessionId)
    yield* locked(reconcile)

    const done = yield* Deferred.make<void, MirrorError | GatewayError>()
    yield* items.pipe(
      Stream.runForEach((item) =>
        item.type === "file_changed" ? locked(onChange(item)) : item.type === "gap" ? locked(reconcile) : Effect.void
      ),
      Effect.onExit((exit) =>
        Exit.isFailure(exit) && !Exit.isInterrupted(exit)
          ? Effect.zipRight(
              update((s) => ({ ...s, state: "error", error: messageOf(Cause.squash(exit.cause)) })),
              Deferred.failCause(done, exit.cause)
            )
          : Effect.void
      ),
      Effect.forkScoped
    )
    yield* client.state.changes.pipe(
      Stream.runForEach((state) =>
        update((s) => (s.state === "error" ? s : { ...s, state: state._tag === "Connected" ? "active" : "paused" }))
      ),
      Effect.forkScoped
    )

    const resolve = (path: string, take: boolean) =>
      locked(
        Effect.gen(function* () {
          const rel = Either.getOrElse(
            Either.map(checkPath(path), (s) => s.join("/")),
            () => path
          )
          const conflict = conflicts.get(rel)
          if (conflict === undefined) {
            return yield* new MirrorError({ reason: "NoConflict", message: `no conflict on ${path}` })
          }
          const absolute = paths.join(root, ...rel.split("/"))
          const upstreamAbsolute =
            conflict.upstreamPath === undefined ? undefined : paths.join(root, ...conflict.upstreamPath.split("/"))
          const act = Effect.gen(function* () {
            if (take && conflict.change === "modified" && upstreamAbsolute !== undefined) {
              yield* fs.rename(upstreamAbsolute, absolute)
            } else if (take) {
              yield* fs.remove(absolute).pipe(Effect.catchIf(isNotFound, () => Effect.void))
            } else if (upstreamAbsolute !== undefined) {
              yield* fs.remove(upstreamAbsolute).pipe(Effect.catchIf(isNotFound, () => Effect.void))
            }
          })
          yield* act.pipe(Effect.mapError(fsError(`cannot resolve the conflict on ${rel}`)))
          // Taken or kept, the journal records the upstream version: a local edit kept stays one.
          if (conflict.change === "modified" && conflict.hash !== undefined) {
            files.set(rel, { iteration: conflict.iteration, hash: conflict.hash })
          } else {
            files.delete(rel)
          }
          conflicts.delete(rel)
          yield* save
          yield* publish(false)
        })
      )

    return {
      status: Subscribable.make({ get: SubscriptionRef.get(status), changes: status.changes }),
      keepLocal: (path) => resolve(path, false),
      takeUpstream: (path) => resolve(path, true),
      sync: locked(reconcile),
      done: Deferred.await(done)
    }
  })

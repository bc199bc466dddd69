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
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Subscribable from "effect/Subscribable"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as GatewayClient from "./GatewayClient.js"
import type { GatewayError } from "./GatewayError.js"
import { isNotFound } from "./internal/mirrorFiles.js"
import * as MirrorJournal from "./internal/mirrorJournal.js"
import * as MirrorPaths from "./internal/mirrorPaths.js"
import * as MirrorSync from "./internal/mirrorSync.js"

/**
 * A local edit that an upstream change met.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Conflict = MirrorJournal.Conflict

/**
 * @since 0.2.0
 * @category models
 */
export interface Conflict extends Schema.Schema.Type<typeof Conflict> {}

/**
 * What the journal file holds. Files are an array of entries (not an object keyed by path), so no
 * path from a gateway can be an object key (`__proto__`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const Journal = MirrorJournal.Journal

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
export const journalFolder = MirrorPaths.journalFolder

/**
 * Where an upstream version goes when it meets a local edit: `src/add.ts` -> `src/add.upstream.ts`,
 * `Makefile` -> `Makefile.upstream`, `.gitignore` -> `.gitignore.upstream`.
 *
 * @since 0.2.0
 * @category naming
 */
export const upstreamName: (path: string) => string = MirrorPaths.upstreamName

/**
 * A gateway path as segments under the directory, or why it is refused (symbolic links are
 * checked against the directory separately).
 *
 * @since 0.2.0
 * @category paths
 */
export const checkPath: (path: string) => Either.Either<ReadonlyArray<string>, string> = MirrorPaths.checkPath

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

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
    const fsError = (what: string) => (cause: PlatformError.PlatformError) =>
      new MirrorError(MirrorJournal.fileSystemFailure(what)(cause))

    yield* fs
      .makeDirectory(paths.join(root, journalFolder), { recursive: true })
      .pipe(Effect.mapError(fsError(`cannot create ${root}`)))
    const journal = yield* MirrorJournal.load(fs, paths, root, sessionId).pipe(
      Effect.mapError((failure) => new MirrorError(failure))
    )
    const { files, conflicts } = journal

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
    const refuse = (path: string, reason: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        update((s) => ({ ...s, refused: [...s.refused, { path, reason, at }].slice(-maxRefusals) }))
      )
    const save = MirrorJournal.save(fs, paths, journal).pipe(Effect.mapError((failure) => new MirrorError(failure)))

    const mirror: MirrorSync.Mirror = {
      client,
      sessionId,
      fs,
      paths,
      root,
      journal,
      save,
      publish,
      refuse,
      maxDirectories
    }
    const reconcile = MirrorSync.reconcile(mirror)

    const lock = yield* Effect.makeSemaphore(1)
    const locked = <A, E>(effect: Effect.Effect<A, E>) => lock.withPermits(1)(effect)

    // ----- follow ----------------------------------------------------------------------------
    const items = yield* client.subscribeSession(sessionId)
    yield* client.joinSession(sessionId)
    yield* locked(reconcile)

    const done = yield* Deferred.make<void, MirrorError | GatewayError>()
    yield* items.pipe(
      Stream.runForEach((item) =>
        item.type === "file_changed"
          ? locked(MirrorSync.onChange(mirror, item))
          : item.type === "gap"
            ? locked(reconcile)
            : Effect.void
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

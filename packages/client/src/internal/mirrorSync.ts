/**
 * The workspace mirror's sync: an upstream version or deletion applied to the directory without
 * overwriting a local edit (the journal's hash tells one; an edited file gets a conflict and the
 * upstream version beside it), a full sync (`reconcile`: list the workspace, fetch what changed,
 * delete what upstream no longer has), and one `file_changed` at a time (`onChange`). A failure on
 * one file refuses that file and the sync goes on.
 *
 * @internal
 */
import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as GatewayClient from "../GatewayClient.js"
import type { GatewayError } from "../GatewayError.js"
import type { Conflict, MirrorError } from "../WorkspaceMirror.js"
import { decodeContent, readLocal, sha256, writeAtomic } from "./mirrorFiles.js"
import type * as MirrorJournal from "./mirrorJournal.js"
import { checkPath, locate as locatePath, relative, upstreamName } from "./mirrorPaths.js"

/** What the sync works on, from `WorkspaceMirror.make`. */
export interface Mirror {
  readonly client: GatewayClient.GatewayClient
  readonly sessionId: string
  readonly fs: FileSystem.FileSystem
  readonly paths: Path.Path
  readonly root: string
  readonly journal: MirrorJournal.State
  readonly save: Effect.Effect<void, MirrorError>
  /** Puts the journal's counts and conflicts in the status; `synced` stamps `lastSyncAt`. */
  readonly publish: (synced: boolean) => Effect.Effect<void>
  /** Reports a path that is not written. */
  readonly refuse: (path: string, reason: string) => Effect.Effect<void>
  readonly maxDirectories: number
}

interface Upstream {
  readonly bytes: Uint8Array
  readonly hash: string
  readonly iteration: number | undefined
}

const latestOf = <V extends { readonly iteration: number }>(versions: ReadonlyArray<V>): V | undefined =>
  versions.reduce<V | undefined>((max, v) => (max === undefined || v.iteration > max.iteration ? v : max), undefined)

const now = Clock.currentTimeMillis

/** The absolute path of a checked path, after making sure no link lies on the way to it. */
const locate = (m: Mirror, path: string): Effect.Effect<string | undefined> =>
  Effect.flatMap(
    locatePath(m.fs, m.paths, m.root, path),
    Either.match({
      onLeft: (reason) => Effect.as(m.refuse(path, reason), undefined),
      onRight: (absolute) => Effect.succeed(absolute)
    })
  )

/** Runs a file operation; a failure on one file refuses that file and the mirror goes on. */
const perFile = (m: Mirror, path: string, effect: Effect.Effect<void, PlatformError.PlatformError>) =>
  Effect.catchAll(effect, (error) => m.refuse(path, `cannot be written here: ${error.message}`))

const removeUpstreamCopy = (m: Mirror, conflict: Conflict | undefined) =>
  conflict?.upstreamPath === undefined
    ? Effect.void
    : Effect.flatMap(locate(m, conflict.upstreamPath), (absolute) =>
        absolute === undefined ? Effect.void : Effect.ignore(m.fs.remove(absolute))
      )

/** Runs `body` on a path the mirror may write (else nothing), with `perFile`'s failure policy. */
const onFile = (
  m: Mirror,
  path: string,
  body: (rel: string, absolute: string) => Effect.Effect<void, PlatformError.PlatformError>
) =>
  Effect.flatMap(locate(m, path), (absolute) =>
    absolute === undefined ? Effect.void : perFile(m, path, body(relative(path), absolute))
  )

/** An upstream version of `path` arrives. */
const apply = (m: Mirror, path: string, upstream: Upstream) =>
  onFile(m, path, (rel, absolute) =>
    Effect.gen(function* () {
      const { files, conflicts } = m.journal
      const entry = files.get(rel)
      const local = yield* readLocal(m.fs, absolute)
      const localHash = local === undefined ? undefined : yield* sha256(local)
      const settle = Effect.gen(function* () {
        files.set(rel, { iteration: upstream.iteration, hash: upstream.hash })
        yield* removeUpstreamCopy(m, conflicts.get(rel))
        conflicts.delete(rel)
      })
      if (localHash === upstream.hash) return yield* settle
      const edited = entry === undefined ? local !== undefined : localHash !== entry.hash
      if (!edited) {
        yield* writeAtomic(m.fs, m.paths, absolute, upstream.bytes)
        return yield* settle
      }
      const upstreamPath = upstreamName(rel)
      const upstreamAbsolute = yield* locate(m, upstreamPath)
      if (upstreamAbsolute === undefined) return
      yield* writeAtomic(m.fs, m.paths, upstreamAbsolute, upstream.bytes)
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

/** Upstream deleted `path`. */
const applyDelete = (m: Mirror, path: string, iteration: number | undefined) =>
  onFile(m, path, (rel, absolute) =>
    Effect.gen(function* () {
      const { files, conflicts } = m.journal
      const entry = files.get(rel)
      const previous = conflicts.get(rel)
      yield* removeUpstreamCopy(m, previous)
      conflicts.delete(rel)
      // Never written from upstream: whatever is here is the user's own file.
      if (entry === undefined) return
      const local = yield* readLocal(m.fs, absolute)
      if (local === undefined || (yield* sha256(local)) === entry.hash) {
        if (local !== undefined) yield* m.fs.remove(absolute)
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

const fetch = (m: Mirror, path: string, iteration: number | undefined) =>
  m.client.readFile(m.sessionId, path).pipe(
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
const listAll = (m: Mirror) =>
  Effect.gen(function* () {
    const found = new Set<string>()
    const listed = new Set<string>()
    const queue = [""]
    while (queue.length > 0 && listed.size < m.maxDirectories) {
      const dir = queue.shift()!
      listed.add(dir)
      const entries = yield* m.client.listFiles({ sessionId: m.sessionId, path: dir, depth: 0 }).pipe(
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

/** A full sync: the directory catches up with the workspace. */
export const reconcile = (m: Mirror): Effect.Effect<void, MirrorError | GatewayError> =>
  Effect.gen(function* () {
    const { files, conflicts } = m.journal
    const upstream = yield* listAll(m)
    const seen = new Set<string>()
    for (const path of upstream) {
      const checked = checkPath(path)
      if (Either.isLeft(checked)) {
        yield* m.refuse(path, checked.left)
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
        latest = latestOf(yield* m.client.fileHistory(m.sessionId, path))
        if (latest !== undefined) {
          if (entry !== undefined && (latest.iteration === entry.iteration || latest.hash === entry.hash)) {
            files.set(rel, { iteration: latest.iteration, hash: entry.hash })
            continue
          }
          if (latest.iteration === conflict?.iteration || latest.hash === conflict?.hash) continue
        }
      }
      const version = yield* fetch(m, path, latest?.iteration)
      if (version !== undefined) yield* apply(m, path, version)
    }
    for (const rel of [...files.keys(), ...conflicts.keys()]) {
      if (!seen.has(rel)) yield* applyDelete(m, rel, undefined)
    }
    yield* m.save
    yield* m.publish(true)
  })

/** One `file_changed`. */
export const onChange = (
  m: Mirror,
  event: { readonly path: string; readonly change: string; readonly iteration?: number | undefined }
): Effect.Effect<void, MirrorError | GatewayError> =>
  Effect.gen(function* () {
    const { files, conflicts } = m.journal
    if (event.change === "deleted") {
      yield* applyDelete(m, event.path, event.iteration)
    } else {
      // Refused before anything is fetched.
      if ((yield* locate(m, event.path)) === undefined) return
      const rel = relative(event.path)
      const known = files.get(rel)?.iteration ?? conflicts.get(rel)?.iteration
      if (known !== undefined && event.iteration !== undefined && known >= event.iteration) return
      const version = yield* fetch(m, event.path, event.iteration)
      if (version !== undefined) yield* apply(m, event.path, version)
    }
    yield* m.save
    yield* m.publish(true)
  })

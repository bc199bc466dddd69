/**
 * The workspace mirror's file primitives: SHA-256 of bytes (what the journal compares), a file's
 * bytes from a `file_content`, atomic writes, and reads where a missing file is `undefined`.
 *
 * @internal
 */
import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("")

/** SHA-256 of `bytes`, hex (WebCrypto: Node, browsers, Deno, Bun). */
export const sha256 = (bytes: Uint8Array) =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", bytes)).pipe(Effect.map(hex))

export const decodeContent = (content: { readonly content: string; readonly encoding: string }): Uint8Array =>
  content.encoding === "base64"
    ? Uint8Array.from(atob(content.content), (c) => c.charCodeAt(0))
    : new TextEncoder().encode(content.content)

export const isNotFound = (error: PlatformError.PlatformError) =>
  error._tag === "SystemError" && error.reason === "NotFound"

/** Writes `bytes` to a temporary name beside `target`, then renames it into place. */
export const writeAtomic = (fs: FileSystem.FileSystem, paths: Path.Path, target: string, bytes: Uint8Array) =>
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

/** A file's bytes, or `undefined` when there is none. */
export const readLocal = (fs: FileSystem.FileSystem, absolute: string) =>
  fs.readFile(absolute).pipe(
    Effect.map((bytes): Uint8Array | undefined => bytes),
    Effect.catchIf(isNotFound, () => Effect.succeed(undefined))
  )

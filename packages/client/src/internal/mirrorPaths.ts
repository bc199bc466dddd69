/**
 * The workspace mirror's path safety: which gateway paths may be written under the directory
 * (`checkPath`: not empty, not absolute, no `..`, backslash or NUL, not under the journal's
 * folder), where no symbolic link may lie on the way to one (`locate`), and where an upstream
 * version goes beside a local edit (`upstreamName`).
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { isNotFound } from "./mirrorFiles.js"

/** See `WorkspaceMirror.journalFolder`. */
export const journalFolder = ".diminuendo"

/** See `WorkspaceMirror.upstreamName`. */
export const upstreamName = (path: string): string => {
  const slash = path.lastIndexOf("/")
  const dot = path.lastIndexOf(".")
  return dot > slash + 1 ? `${path.slice(0, dot)}.upstream${path.slice(dot)}` : `${path}.upstream`
}

/** See `WorkspaceMirror.checkPath`. */
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

/** The path of a path `checkPath` accepts, relative to the directory (its key in the journal). */
export const relative = (path: string) => Either.getOrThrow(checkPath(path)).join("/")

/**
 * The absolute path of a gateway path under `root` (right), or why it is refused (left): it fails
 * `checkPath`, or a symbolic link lies on the way to it.
 */
export const locate = (
  fs: FileSystem.FileSystem,
  paths: Path.Path,
  root: string,
  path: string
): Effect.Effect<Either.Either<string, string>> =>
  Either.match(checkPath(path), {
    onLeft: (reason) => Effect.succeed(Either.left(reason)),
    onRight: (segments) =>
      Effect.gen(function* () {
        for (let i = 1; i <= segments.length; i++) {
          const prefix = paths.join(root, ...segments.slice(0, i))
          const link = yield* fs.readLink(prefix).pipe(Effect.either)
          if (Either.isRight(link)) {
            return Either.left(`goes through a symbolic link (${segments.slice(0, i).join("/")})`)
          }
          if (isNotFound(link.left)) break
        }
        return Either.right(paths.join(root, ...segments))
      })
  })

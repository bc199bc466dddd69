/**
 * A session's files, with every version kept: what the agents write and what `list_files`,
 * `read_file`, `file_history` and `file_at_iteration` read.
 *
 * @since 0.1.0
 */

import { createHash } from "node:crypto"
import type { Shapes } from "@diminuendo/protocol"

interface Version {
  readonly iteration: number
  readonly timestamp: number
  /** `null`: the file was deleted at this iteration. */
  readonly content: string | null
  readonly size: number
  readonly hash: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Workspace {
  /** Writes (or, with `null`, deletes) a file; returns the new iteration and the kind of change. */
  readonly write: (
    path: string,
    content: string | null,
    timestamp: number
  ) => { readonly iteration: number; readonly change: "created" | "modified" | "deleted" }
  readonly read: (path: string) => string | undefined
  readonly readAt: (path: string, iteration: number) => string | undefined
  readonly history: (path: string) => ReadonlyArray<Shapes.FileVersion> | undefined
  readonly list: (path: string, depth: number) => ReadonlyArray<Shapes.FileEntry> | undefined
  readonly iteration: () => number
}

const normalize = (path: string): string => path.replace(/^\.?\/+/, "").replace(/\/+$/, "")

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Workspace => {
  const files = new Map<string, Array<Version>>()
  let iteration = 0
  const latest = (path: string): Version | undefined => {
    const versions = files.get(normalize(path))
    return versions?.[versions.length - 1]
  }
  return {
    iteration: () => iteration,
    write: (rawPath, content, timestamp) => {
      const path = normalize(rawPath)
      const previous = latest(path)
      const change =
        content === null ? "deleted" : previous === undefined || previous.content === null ? "created" : "modified"
      iteration += 1
      const version: Version = {
        iteration,
        timestamp,
        content,
        size: content === null ? 0 : Buffer.byteLength(content),
        hash: content === null ? "" : createHash("sha256").update(content).digest("hex")
      }
      const versions = files.get(path)
      if (versions === undefined) files.set(path, [version])
      else versions.push(version)
      return { iteration, change }
    },
    read: (path) => latest(path)?.content ?? undefined,
    readAt: (path, at) => {
      const versions = files.get(normalize(path)) ?? []
      let found: Version | undefined
      for (const version of versions) if (version.iteration <= at) found = version
      return found?.content ?? undefined
    },
    history: (path) => {
      const versions = files.get(normalize(path))
      if (versions === undefined) return undefined
      return versions
        .filter((v) => v.content !== null)
        .map((v) => ({ iteration: v.iteration, timestamp: v.timestamp, size: v.size, hash: v.hash }))
    },
    list: (rawPath, depth) => {
      const base = normalize(rawPath)
      const prefix = base === "" ? "" : `${base}/`
      const live = [...files.entries()].filter(([, versions]) => versions[versions.length - 1]!.content !== null)
      // Not a directory (absent, or a file): nothing to list.
      if (base !== "" && !live.some(([path]) => path.startsWith(prefix))) return undefined
      const entries = new Map<string, Shapes.FileEntry>()
      for (const [path, versions] of live) {
        if (!path.startsWith(prefix)) continue
        const parts = path.slice(prefix.length).split("/")
        const limit = depth <= 0 ? parts.length : Math.min(depth, parts.length)
        for (let i = 1; i <= limit; i++) {
          const entryPath = prefix + parts.slice(0, i).join("/")
          if (entries.has(entryPath)) continue
          const isFile = i === parts.length
          entries.set(
            entryPath,
            isFile
              ? { path: entryPath, name: parts[i - 1]!, kind: "file", size: versions[versions.length - 1]!.size }
              : { path: entryPath, name: parts[i - 1]!, kind: "directory" }
          )
        }
      }
      return [...entries.values()].sort((a, b) => a.path.localeCompare(b.path))
    }
  }
}

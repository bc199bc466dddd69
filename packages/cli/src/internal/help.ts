/**
 * The command lists of `diminuendo --help` (and `sessions`, `members`, `files`) without the
 * options every connecting command takes, which @effect/cli repeats on each line; a note says them once.
 *
 * @internal
 */
import * as Style from "./style.js"

/** What every command that connects takes, as @effect/cli writes it in a usage line. */
const connectionUsage = / ?\[--url URL\] \[--token-file PATH\] \[--timeout SECONDS\] \[--json\]/g

const note =
  "Each command that connects also takes [--url URL] (env DIMINUENDO_URL), [--token-file PATH] (else env DIMINUENDO_TOKEN), [--timeout SECONDS] and [--json]; `diminuendo COMMAND --help` describes it."

export const compact = (text: string): string => {
  const lines = text.split("\n")
  const start = lines.findIndex((line) => Style.strip(line).trim() === "COMMANDS")
  if (start < 0 || text.search(connectionUsage) < 0) return text
  const entries: Array<{ index: number; usage: string; description: string }> = []
  for (let i = start + 1; i < lines.length; i++) {
    const match = /^ {2}- (.*?) {2,}(\S.*)$/.exec(lines[i]!)
    if (match !== null)
      entries.push({ index: i, usage: match[1]!.replace(connectionUsage, "").trim(), description: match[2]! })
  }
  const width = Math.max(...entries.map((e) => e.usage.length))
  for (const e of entries) lines[e.index] = `  - ${e.usage.padEnd(width)}  ${e.description}`
  const end = entries.length === 0 ? start : entries[entries.length - 1]!.index
  lines.splice(end + 1, 0, "", note)
  return lines.join("\n")
}

/**
 * The cluster section: packages/cluster/bench/cluster.ts in its own process (it starts runner
 * processes and, outside --quick, a PostgreSQL server); its stdout is the section's text.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "packages", "cluster")

export const runClusterBench = (quick: boolean) =>
  new Promise<{ readonly lines: ReadonlyArray<string>; readonly ok: boolean }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/cluster.ts", ...(quick ? ["--quick"] : [])], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let stdout = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
    })
    child.on("close", (code) => resolve({ lines: stdout.replace(/\n$/, "").split("\n"), ok: code === 0 }))
  })

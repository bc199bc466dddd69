/**
 * A throwaway PostgreSQL server for the slow tests and the benchmark: Debian's `postgresql`
 * binaries, `initdb` on a temporary directory (as the `postgres` user when running as root),
 * listening on 127.0.0.1 at a free port, with `fsync=off`. `stop` shuts it down and removes the
 * directory.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface Postgres {
  readonly port: number
  /** A connection URL for `database`. */
  readonly url: (database: string) => string
  /** Creates a database (one per cluster: the engine's advisory lock keys ignore table prefixes). */
  readonly createDatabase: (name: string) => void
  readonly stop: () => void
}

/** The directory of `initdb`, or undefined when PostgreSQL is not installed. */
export const binDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!fs.existsSync(root)) return undefined
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin")
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export const start = async (): Promise<Postgres> => {
  const bin = binDir()
  if (bin === undefined) throw new Error("PostgreSQL is not installed (apt-get install -y postgresql)")
  const asRoot = process.getuid?.() === 0
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "diminuendo-pg-"))
  const data = path.join(dir, "data")
  const run = (command: string, args: ReadonlyArray<string>) =>
    execFileSync(
      asRoot ? "runuser" : path.join(bin, command),
      asRoot ? ["-u", "postgres", "--", path.join(bin, command), ...args] : [...args],
      { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }
    )
  if (asRoot) execFileSync("chown", ["postgres:postgres", dir])
  run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
  const port = await freePort()
  const options = [
    "-c listen_addresses=127.0.0.1",
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200"
  ].join(" ")
  run("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "server.log"), "-w", "-t", "60", "start"])
  let stopped = false
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => run("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name]),
    stop: () => {
      if (stopped) return
      stopped = true
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}

/**
 * Global setup of `pnpm test:install`: packs the five packages with `pnpm pack` (whose prepack
 * builds them), and installs the tarballs into a new project outside the workspace with npm, as a
 * user would: first exactly `npm i effect@3 ./diminuendo-*.tgz` of protocol, client and testkit
 * (its `npm ls` is kept for the tests), then what the consumers import themselves
 * (`@effect/platform`, `@effect/platform-node` on their Effect 3 lines) and TypeScript, then
 * `@diminuendo/cluster` with every one of its peers at the line a user asks for (`@effect/cluster@0.60`,
 * ..., read from the workspace catalog) and `@diminuendo/cli`. The consumers, the README examples
 * and the browser page are copied in.
 *
 * `better-sqlite3` (under `@effect/sql-sqlite-node`, a dependency of the cluster) compiles SQLite
 * in its install script: close to two minutes on two cores. The project denies that script
 * (`allowScripts`) and takes the binary the workspace's pnpm install built, for the same
 * `better-sqlite3` version and Node; `INSTALL_BUILD_SQLITE=1` approves the script instead and
 * builds it as a user's install does. `KEEP_INSTALL=1` keeps the project for a look afterwards; `INSTALL_DIR=<its app
 * folder>` runs the tests against a kept one again, without packing or installing (the test files
 * are copied in anew).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** The project the tarballs were installed into. */
    readonly installDir: string
    /** `npm ls --all --json` right after `npm i effect@3 ./diminuendo-*.tgz`. */
    readonly firstInstallTree: string
  }
}

/** The packages this test installs: the first three with `effect@3` alone, then cluster and cli. */
const core = ["protocol", "client", "testkit"]
const published = [...core, "cluster", "cli"]

const here = path.dirname(fileURLToPath(import.meta.url))
const consumers = path.join(here, "..")
const root = path.join(consumers, "..", "..")

const run = async (command: string, args: ReadonlyArray<string>, cwd: string) => {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stderr ?? ""}\n${stdout ?? ""}`)
  }
}

/** `npm ls` exits 1 when it finds a problem; the JSON says which. */
const npmLs = (cwd: string) =>
  promisify(execFile)("npm", ["ls", "--all", "--json"], { cwd, maxBuffer: 64 * 1024 * 1024 }).then(
    ({ stdout }) => stdout,
    (error: { stdout?: string }) => error.stdout ?? "{}"
  )

/** A range of the workspace catalog (pnpm-workspace.yaml), as written there (`^0.60.2`). */
const catalog = (name: string): string => {
  const yaml = fs.readFileSync(path.join(root, "pnpm-workspace.yaml"), "utf8")
  const escaped = name.replace(/[/.]/g, "\\$&")
  const range = yaml.match(new RegExp(`^\\s+"?${escaped}"?:\\s*(\\S+)\\s*$`, "m"))?.[1]
  if (range === undefined) throw new Error(`${name} is not in the catalog`)
  return range
}

/** What a user asks npm for: the catalog's line (`^0.60.2` gives `@0.60`, `^3.22.4` gives `@3`). */
const line = (name: string): string => {
  const [major, minor] = catalog(name)
    .replace(/^[\^~]/, "")
    .split(".")
  return `${name}@${major === "0" ? `0.${minor}` : major}`
}

/**
 * The `better-sqlite3` the workspace's cluster resolves (built by `pnpm install`), copied into the
 * installed one whose install script was denied; the versions must agree.
 */
const copySqliteBinding = (app: string) => {
  const fromCluster = createRequire(path.join(root, "packages", "cluster", "package.json"))
  const driver = path.dirname(fromCluster.resolve("@effect/sql-sqlite-node/package.json"))
  const built = path.dirname(createRequire(path.join(driver, "package.json")).resolve("better-sqlite3/package.json"))
  const installed = path.join(app, "node_modules", "better-sqlite3")
  const versionOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version
  if (versionOf(built) !== versionOf(installed))
    throw new Error(
      `better-sqlite3 ${versionOf(installed)} was installed, the workspace built ${versionOf(built)}: run with INSTALL_BUILD_SQLITE=1`
    )
  const binding = path.join("build", "Release", "better_sqlite3.node")
  fs.mkdirSync(path.join(installed, "build", "Release"), { recursive: true })
  fs.copyFileSync(path.join(built, binding), path.join(installed, binding))
}

const copyProgramsTo = (app: string) => {
  for (const folder of ["readme", "src", "browser"])
    fs.cpSync(path.join(consumers, folder), path.join(app, folder), { recursive: true })
  for (const file of fs.readdirSync(path.join(consumers, "project")))
    fs.copyFileSync(path.join(consumers, "project", file), path.join(app, file))
}

export default async function setup(project: TestProject) {
  const kept = process.env.INSTALL_DIR
  if (kept !== undefined && kept !== "") {
    copyProgramsTo(kept)
    project.provide("firstInstallTree", fs.readFileSync(path.join(kept, "..", "npm-ls-first.json"), "utf8"))
    project.provide("installDir", kept)
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "diminuendo-install-"))
  const packs = path.join(dir, "packs")
  const app = path.join(dir, "app")
  fs.mkdirSync(app, { recursive: true })

  await run(
    "pnpm",
    [
      ...published.flatMap((name) => ["--filter", `@diminuendo/${name}`]),
      "--workspace-concurrency=1",
      "pack",
      "--pack-destination",
      packs
    ],
    root
  )
  const tarball = (name: string) => {
    const found = fs.readdirSync(packs).filter((f) => f.startsWith(`diminuendo-${name}-`) && f.endsWith(".tgz"))
    if (found.length !== 1) throw new Error(`expected one tarball of ${name}, got ${found.join(", ")}`)
    return path.join(packs, found[0]!)
  }

  const buildSqlite = process.env.INSTALL_BUILD_SQLITE === "1"
  fs.writeFileSync(
    path.join(app, "package.json"),
    `${JSON.stringify(
      {
        name: "diminuendo-consumer",
        private: true,
        type: "module",
        allowScripts: { "better-sqlite3": buildSqlite }
      },
      null,
      2
    )}\n`
  )
  const npm = ["--no-audit", "--no-fund", "--loglevel=error"]
  await run("npm", ["i", ...npm, "effect@3", ...core.map(tarball)], app)
  const firstTree = await npmLs(app)
  fs.writeFileSync(path.join(dir, "npm-ls-first.json"), firstTree)
  project.provide("firstInstallTree", firstTree)
  await run(
    "npm",
    [
      "i",
      ...npm,
      `@effect/platform@${catalog("@effect/platform")}`,
      `@effect/platform-node@${catalog("@effect/platform-node")}`,
      `typescript@${catalog("typescript")}`,
      `@types/node@${catalog("@types/node")}`
    ],
    app
  )
  // The cluster with its peers at their lines (`effect@3 @effect/cluster@0.60 ...`), and the cli.
  const clusterManifest = JSON.parse(fs.readFileSync(path.join(root, "packages", "cluster", "package.json"), "utf8"))
  const peers = Object.keys(clusterManifest.peerDependencies).map(line)
  await run("npm", ["i", ...npm, tarball("cluster"), ...peers, tarball("cli")], app)
  if (!buildSqlite) copySqliteBinding(app)

  copyProgramsTo(app)
  project.provide("installDir", app)
  return () => {
    if (process.env.KEEP_INSTALL === "1") console.log(`kept ${app} (INSTALL_DIR=${app} reuses it)`)
    else fs.rmSync(dir, { recursive: true, force: true })
  }
}

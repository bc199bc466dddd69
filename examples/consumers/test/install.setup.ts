/**
 * Global setup of `pnpm test:install`: packs the three packages with `pnpm pack` (whose prepack
 * builds them), and installs the tarballs into a new project outside the workspace with npm, as a
 * user would: first exactly `npm i effect@3 ./diminuendo-*.tgz` (its `npm ls` is kept for the
 * tests), then what the consumers import themselves (`@effect/platform`, `@effect/platform-node`
 * on their Effect 3 lines) and TypeScript. The consumers, the README examples and the browser page
 * are copied in. `KEEP_INSTALL=1` keeps the project for a look afterwards; `INSTALL_DIR=<its app
 * folder>` runs the tests against a kept one again, without packing or installing (the test files
 * are copied in anew).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
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

/** The packages this test installs (`@diminuendo/cluster` is not among them yet). */
const published = ["protocol", "client", "testkit"]

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
  const tarballs = fs
    .readdirSync(packs)
    .filter((f) => /^diminuendo-.*\.tgz$/.test(f))
    .map((f) => path.join(packs, f))
  if (tarballs.length !== 3) throw new Error(`expected 3 tarballs, got ${tarballs.join(", ")}`)

  fs.writeFileSync(
    path.join(app, "package.json"),
    `${JSON.stringify({ name: "diminuendo-consumer", private: true, type: "module" }, null, 2)}\n`
  )
  const npm = ["--no-audit", "--no-fund", "--loglevel=error"]
  await run("npm", ["i", ...npm, "effect@3", ...tarballs], app)
  const firstTree = await npmLs(app)
  fs.writeFileSync(path.join(dir, "npm-ls-first.json"), firstTree)
  project.provide("firstInstallTree", firstTree)
  await run(
    "npm",
    [
      "i",
      ...npm,
      "@effect/platform@^0.97.2",
      "@effect/platform-node@^0.108.2",
      "typescript@~5.9.3",
      "@types/node@^20.19.0"
    ],
    app
  )

  copyProgramsTo(app)
  project.provide("installDir", app)
  return () => {
    if (process.env.KEEP_INSTALL === "1") console.log(`kept ${app} (INSTALL_DIR=${app} reuses it)`)
    else fs.rmSync(dir, { recursive: true, force: true })
  }
}

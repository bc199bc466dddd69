/** The project the global setup installed the tarballs into, and what tests do with it. */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert } from "@effect/vitest"
import { inject } from "vitest"
import * as Processes from "./processes.js"

export const dir = inject("installDir")
export const modules = path.join(dir, "node_modules")
export const packageDir = (name: string) => path.join(modules, ...name.split("/"))
export const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"))

/** `tsc -p <config>` in the installed project, with the installed TypeScript; the config is strict. */
export const typeCheck = (config: string) => {
  const options = readJson(path.join(dir, config)).compilerOptions
  assert.isTrue(options.strict && options.exactOptionalPropertyTypes, `${config} is strict`)
  return Processes.run("node", [path.join(modules, "typescript", "bin", "tsc"), "-p", config], {
    cwd: dir,
    timeout: "3 minutes"
  })
}

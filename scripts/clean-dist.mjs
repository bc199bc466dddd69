/**
 * Run by each package's `build` (and so by `pnpm pack`, whose prepack builds) before `tsc -b`:
 * removes from `dist/` what no file of `src/` produces any more, so a tarball never ships a module
 * that was deleted or renamed. `tsc -b` then rebuilds only what changed.
 */
import * as fs from "node:fs"
import * as path from "node:path"

const outputs = /(\.d\.ts\.map|\.d\.ts|\.js\.map|\.js)$/
const walk = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const file = path.join(dir, entry.name)
        return entry.isDirectory() ? walk(file) : [file]
      })
    : []

for (const file of walk("dist")) {
  const source = path.join("src", path.relative("dist", file).replace(outputs, ".ts"))
  if (!outputs.test(file) || !fs.existsSync(source)) fs.rmSync(file)
}

/** `pnpm readme`: writes each example file into the README blocks that name it (see blocks.ts). */
import * as fs from "node:fs"
import * as path from "node:path"
import { readmes, root, synced } from "./blocks.js"

for (const readme of readmes) {
  const file = path.join(root, readme)
  const next = synced(readme)
  if (next !== fs.readFileSync(file, "utf8")) {
    fs.writeFileSync(file, next)
    console.log(`updated ${readme}`)
  }
}

/**
 * A Vitest reporter that prints, per package, how hard the suite tried: the number of property
 * tests and the cases fast-check generated for them, and the table-driven tests with their sizes.
 * Tests mark themselves through `task.meta`: `{ property: true, cases }` (incremented per generated
 * case) or `{ table: "<name>", rows? }` (one row per test unless `rows` says how many it checks).
 */
import type { Reporter, RunnerTask, RunnerTestFile } from "vitest"

interface Totals {
  properties: number
  cases: number
  tables: Map<string, number>
  tests: number
}

const walk = (task: RunnerTask, visit: (task: RunnerTask) => void) => {
  visit(task)
  if ("tasks" in task) for (const child of task.tasks) walk(child, visit)
}

export default class SummaryReporter implements Reporter {
  onFinished(files: ReadonlyArray<RunnerTestFile> = []) {
    const byPackage = new Map<string, Totals>()
    for (const file of files) {
      const name = file.projectName || "root"
      let totals = byPackage.get(name)
      if (totals === undefined) byPackage.set(name, (totals = { properties: 0, cases: 0, tables: new Map(), tests: 0 }))
      walk(file, (task) => {
        if (task.type !== "test") return
        totals!.tests += 1
        const meta = task.meta as { property?: boolean; cases?: number; table?: string; rows?: number }
        if (meta.property) {
          totals!.properties += 1
          totals!.cases += meta.cases ?? 0
        }
        if (meta.table !== undefined)
          totals!.tables.set(meta.table, (totals!.tables.get(meta.table) ?? 0) + (meta.rows ?? 1))
      })
    }
    console.log("\nAdversarial summary (properties, generated cases, tables)")
    for (const [name, t] of [...byPackage].sort(([a], [b]) => a.localeCompare(b))) {
      const tables = [...t.tables].map(([table, size]) => `${table} (${size})`).join(", ")
      console.log(
        `  ${name}: ${t.tests} tests, ${t.properties} properties, ${t.cases} generated cases; tables: ${tables || "none"}`
      )
    }
  }
}

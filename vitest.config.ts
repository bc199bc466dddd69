import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    reporters: ["default", "./vitest.summary.ts"],
    // Console output (the client's warnings in tests that provoke them) is shown for failed tests only.
    silent: "passed-only"
  }
})

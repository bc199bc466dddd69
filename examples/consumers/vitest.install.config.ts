import { defineConfig } from "vitest/config"

// `pnpm test:install`, run by .ci/run: the packed packages installed with npm outside the workspace.
export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "install",
    include: ["test/install.test.ts", "test/browser.test.ts"],
    globalSetup: ["test/install.setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    silent: "passed-only",
    // The browser file (bundles, Chromium, the bundler type-check) runs beside the install file.
    maxWorkers: 2,
    minWorkers: 1
  }
})

import { defineConfig } from "vitest/config"

export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "cli",
    include: ["test/**/*.test.ts"],
    // The bin run as processes and in a terminal: `pnpm test:cli` (vitest.e2e.config.ts).
    exclude: ["test/e2e/**"],
    testTimeout: 60_000
  }
})

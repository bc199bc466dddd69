import { defineConfig } from "vitest/config"

export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "cli",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000
  }
})

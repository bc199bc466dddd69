import { defineConfig } from "vitest/config"

export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "client",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    // Memory assertions (slow consumer) measure after a forced collection.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } }
  }
})

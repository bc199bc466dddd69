import { defineConfig } from "vitest/config"

export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "protocol",
    include: ["test/**/*.test.ts"],
    exclude: ["test/NoCodeGeneration.test.ts"],
    testTimeout: 30_000
  }
})

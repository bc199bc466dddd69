import { defineConfig } from "vitest/config"

export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "cluster",
    include: ["test/*.test.ts"],
    testTimeout: 30_000
  }
})

import { defineConfig } from "vitest/config"

// `pnpm test:cluster`: the failover tests with runner processes and a real database (slow).
export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "cluster-failover",
    include: ["test/slow/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false
  }
})

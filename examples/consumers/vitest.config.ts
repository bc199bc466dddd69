import { defineConfig } from "vitest/config"

export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "consumers",
    include: ["test/readme.test.ts"]
  }
})

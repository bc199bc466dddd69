import { defineConfig } from "vitest/config"

// The codec's tests again, with the compiler loaded where code generation is forbidden (a CSP
// without 'unsafe-eval'): the closures it falls back to must give the same verdicts.
export default defineConfig({
  ssr: { resolve: { conditions: ["diminuendo-source"] } },
  resolve: { conditions: ["diminuendo-source"] },
  test: {
    name: "protocol (no code generation)",
    include: [
      "test/Codec.test.ts",
      "test/Hostile.test.ts",
      "test/Properties.test.ts",
      "test/Vectors.test.ts",
      "test/NoCodeGeneration.test.ts"
    ],
    setupFiles: ["test/fixtures/noCodeGeneration.ts"],
    testTimeout: 30_000
  }
})

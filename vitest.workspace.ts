export default [
  "packages/protocol",
  "packages/protocol/vitest.nocodegen.config.ts",
  "packages/testkit",
  "packages/client",
  "packages/cluster",
  "packages/cli",
  "examples/consumers"
]

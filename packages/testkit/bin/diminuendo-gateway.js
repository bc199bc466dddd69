#!/usr/bin/env node
// The workspace's `diminuendo-gateway`: runs the TypeScript source, resolving the workspace packages through
// their "diminuendo-source" export condition. A published package runs dist/bin/gateway.js
// instead (publishConfig.bin).
import { register } from "node:module"

register(
  "data:text/javascript,export const resolve = (specifier, context, next) => next(specifier, { ...context, conditions: [...context.conditions, 'diminuendo-source'] })"
)
const { register: registerTsx } = await import("tsx/esm/api")
registerTsx()
await import("../src/bin/gateway.ts")

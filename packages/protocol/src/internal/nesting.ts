/**
 * Iterative walks over a value's objects and arrays, so that no input can exhaust the call stack
 * (V8's `JSON.parse` reviver and `JSON.stringify` recurse, and throw `RangeError` a few thousand
 * levels down).
 *
 * @internal
 */

/** @internal */
export interface NestingProblem {
  readonly kind: "TooDeep" | "Cyclic" | "TooMany"
  /** The top-level field the problem sits under. */
  readonly field: string | number
}

/**
 * The first problem with `root`'s nesting (`root` is depth 1): a container deeper than `maxDepth`
 * (`Cyclic` when it is one of its own ancestors), or more than `maxContainers` containers reached
 * (a shared sub-value counts each time it is reached, as `JSON.stringify` would write it each
 * time). Depth first, so it stops at the first path that goes too deep.
 *
 * @internal
 */
export const checkNesting = (root: object, maxDepth: number, maxContainers: number): NestingProblem | undefined => {
  const nodes: Array<object> = []
  const depths: Array<number> = []
  const fields: Array<string | number> = []
  // `path[d - 1]` is the container last visited at depth d: the ancestors of the one being visited.
  const path: Array<object> = []
  let visited = 0
  const push = (child: unknown, depth: number, field: string | number) => {
    if (typeof child === "object" && child !== null) {
      nodes.push(child)
      depths.push(depth)
      fields.push(field)
    }
  }
  const children = (node: object, depth: number, field: string | number | undefined) => {
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) push(node[i], depth + 1, field ?? i)
      return
    }
    const keys = Object.keys(node)
    for (let i = keys.length - 1; i >= 0; i--) {
      push((node as Record<string, unknown>)[keys[i]!], depth + 1, field ?? keys[i]!)
    }
  }
  path.push(root)
  children(root, 1, undefined)
  while (nodes.length > 0) {
    const node = nodes.pop()!
    const depth = depths.pop()!
    const field = fields.pop()!
    if (++visited >= maxContainers) return { kind: "TooMany", field }
    if (depth > maxDepth) {
      for (let i = 0; i < depth - 1; i++) if (path[i] === node) return { kind: "Cyclic", field }
      return { kind: "TooDeep", field }
    }
    path[depth - 1] = node
    children(node, depth, field)
  }
  return undefined
}

const PROTO = "__proto__"

/**
 * Deletes every own `__proto__` key in a freshly parsed JSON value, at any depth. `JSON.parse`
 * keeps such keys as plain own properties; merging the value into another object later (with
 * `Object.assign`, a spread into a class, a deep merge) would set that object's prototype.
 *
 * @internal
 */
export const dropProtoKeys = (root: object): void => {
  const nodes: Array<unknown> = [root]
  const push = (child: unknown) => {
    if (typeof child === "object" && child !== null) nodes.push(child)
  }
  while (nodes.length > 0) {
    const node = nodes.pop() as object
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) push(node[i])
      continue
    }
    if (Object.hasOwn(node, PROTO)) delete (node as Record<string, unknown>)[PROTO]
    for (const key of Object.keys(node)) push((node as Record<string, unknown>)[key])
  }
}

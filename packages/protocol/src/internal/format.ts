/**
 * Turns Effect's parse issue into one precise sentence: where, what was expected, what came.
 *
 * @internal
 */
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as AST from "effect/SchemaAST"
import type { ProtocolErrorReason } from "../ProtocolError.js"

/** @internal */
export interface FormattedIssue {
  readonly reason: ProtocolErrorReason
  readonly path: ReadonlyArray<string | number>
  readonly detail: string
}

const MAX_KEY = 40

/** A name from the frame, cut short: an error message stays small whatever the frame holds. */
const clip = (name: string): string =>
  name.length > MAX_KEY ? `${name.slice(0, MAX_KEY - 4)}... (${name.length} chars)` : name

/** @internal */
export const formatPath = (root: string, path: ReadonlyArray<string | number>): string => {
  let out = clip(root)
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (key.length <= MAX_KEY && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out === "" ? key : `.${key}`
    else out += `[${JSON.stringify(clip(key))}]`
  }
  return out
}

/**
 * What a value threw while being read or written, in a few words. Reading the thrown value can
 * throw again (a hostile `message` getter); then it is just "an exception".
 *
 * @internal
 */
export const describeThrown = (error: unknown): string => {
  try {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : render(error, undefined)
    return text.length > MAX_RENDERED ? `${text.slice(0, MAX_RENDERED - 3)}...` : text
  } catch {
    return "an exception"
  }
}

/**
 * The first leaf of an issue tree and the path leading to it.
 *
 * @internal
 */
export const formatIssue = (issue: ParseResult.ParseIssue, source: string | undefined): FormattedIssue => {
  const path: Array<string | number> = []
  let current: ParseResult.ParseIssue = issue
  for (;;) {
    switch (current._tag) {
      case "Pointer": {
        const keys = Array.isArray(current.path) ? current.path : [current.path]
        for (const key of keys) path.push(typeof key === "symbol" ? String(key) : key)
        current = current.issue
        continue
      }
      case "Composite": {
        // A union of plain values ("utf-8" or "base64", a string or null) is described whole; a
        // union of objects is described by the member that came closest.
        if (current.ast._tag === "Union" && current.ast.types.every(isPlain)) {
          return leaf(path, current.ast, current.actual, source)
        }
        const issues = current.issues
        current = Array.isArray(issues) ? (issues[0] as ParseResult.ParseIssue) : (issues as ParseResult.ParseIssue)
        continue
      }
      case "Refinement":
        // A value of the wrong primitive type reads better against the refinement ("expected a
        // safe integer, got \"1\"") than against its base type.
        if (current.kind === "From" && current.issue._tag !== "Type") {
          current = current.issue
          continue
        }
        return leaf(path, current.ast, current.actual, source)
      case "Transformation":
        current = current.issue
        continue
      case "Type":
        return leaf(path, current.ast, current.actual, source)
      case "Missing":
        return { reason: "InvalidMessage", path, detail: "is missing" }
      case "Unexpected":
        return { reason: "InvalidMessage", path, detail: "is not allowed" }
      case "Forbidden":
        return { reason: "InvalidMessage", path, detail: current.message ?? "is forbidden" }
    }
  }
}

const isPlain = (ast: AST.AST): boolean =>
  ast._tag === "Refinement" || ast._tag === "Transformation"
    ? isPlain(ast.from)
    : ast._tag === "Union"
      ? ast.types.every(isPlain)
      : ast._tag !== "TypeLiteral" && ast._tag !== "TupleType"

const leaf = (
  path: ReadonlyArray<string | number>,
  ast: AST.AST,
  actual: unknown,
  source: string | undefined
): FormattedIssue => {
  const unsafe = typeof actual === "number" && !(Math.abs(actual) <= Number.MAX_SAFE_INTEGER) && isIntegerSchema(ast)
  return {
    reason: unsafe ? "UnsafeInteger" : "InvalidMessage",
    path,
    detail: `expected ${describe(ast)}, got ${render(actual, source)}`
  }
}

const isIntegerSchema = (ast: AST.AST): boolean => {
  const jsonSchema = AST.getJSONSchemaAnnotation(ast)
  return Option.isSome(jsonSchema) && (jsonSchema.value as { type?: unknown }).type === "integer"
}

/** A short noun phrase for what a schema accepts. @internal */
export const describe = (ast: AST.AST): string => {
  const description = AST.getDescriptionAnnotation(ast)
  if (Option.isSome(description) && ast._tag !== "TypeLiteral") return description.value
  switch (ast._tag) {
    case "Literal":
      return ast.literal === null ? "null" : JSON.stringify(ast.literal)
    case "Union":
      return ast.types.map(describe).join(" or ")
    case "TypeLiteral":
      return "an object"
    case "TupleType":
      return "an array"
    case "Refinement":
      return describe(ast.from)
    case "Transformation":
      return describe(ast.from)
    default:
      return String(ast)
  }
}

const MAX_RENDERED = 60

/** How a received value reads in an error message. @internal */
export const render = (actual: unknown, source: string | undefined): string => {
  if (actual === undefined) return "nothing"
  if (actual === null) return "null"
  if (typeof actual === "number") {
    const raw = source === undefined ? undefined : findNumberLiteral(source, actual)
    if (raw !== undefined) return raw
    return Number.isInteger(actual) && !Number.isSafeInteger(actual) ? BigInt(actual).toString() : String(actual)
  }
  if (typeof actual === "string") {
    const json = JSON.stringify(actual)
    return json.length > MAX_RENDERED ? `${json.slice(0, MAX_RENDERED - 4)}..." (${actual.length} chars)` : json
  }
  if (typeof actual === "boolean") return String(actual)
  if (Array.isArray(actual)) return `an array of ${actual.length}`
  if (typeof actual === "object") return "an object"
  return typeof actual
}

const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g

/**
 * The number literal as written in the frame: `JSON.parse` turns 9223372036854775807 into
 * 9223372036854776000, and the error should quote what was sent.
 *
 * @internal
 */
export const findNumberLiteral = (source: string, value: number): string | undefined => {
  TOKENS.lastIndex = 0
  for (let match = TOKENS.exec(source); match !== null; match = TOKENS.exec(source)) {
    const token = match[0]
    if (token.charCodeAt(0) !== 34 && Number(token) === value) return token
  }
  return undefined
}

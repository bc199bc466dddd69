/**
 * Compiles a Schema AST into a plain validating function, once, so the hot path does not go
 * through Effect's interpreter. The function returns the decoded value (fresh objects holding only
 * the declared keys, as `Schema.decodeUnknown` with `exact: true` does) or {@link FAIL}. On failure
 * the codec asks Effect's decoder for the precise issue; a property test holds both to the same
 * verdicts.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as AST from "effect/SchemaAST"
import { type FastPredicate, FastPredicateId } from "../Primitives.js"

/** @internal */
export const FAIL: unique symbol = Symbol.for("@diminuendo/protocol/FAIL")

/** @internal */
export type Validator = (u: unknown) => unknown

/**
 * What a dispatcher returns when `u` is not an object with a `type` it has a validator for.
 *
 * @internal
 */
export const NO_TYPE: unique symbol = Symbol.for("@diminuendo/protocol/NO_TYPE")

/**
 * `decode` takes any value; `parsed` decodes too, but only values fresh from `JSON.parse` (plain
 * objects and arrays, all the way down), which lets it skip the prototype and ownership checks
 * while `Object.prototype` holds none of the names it reads; `encode` goes the other way.
 *
 * @internal
 */
export type Direction = "decode" | "parsed" | "encode"

const hasOwn = Object.prototype.hasOwnProperty
const parseOptions: AST.ParseOptions = { errors: "first", exact: true }

const isString: Validator = (u) => (typeof u === "string" ? u : FAIL)
const isNumber: Validator = (u) => (typeof u === "number" ? u : FAIL)
const isBoolean: Validator = (u) => (typeof u === "boolean" ? u : FAIL)
const identity: Validator = (u) => u

/**
 * Compiles `ast`, or returns `undefined` when it holds a node this compiler does not handle (the
 * caller then uses Effect's decoder for everything).
 *
 * @internal
 */
export const compile = (ast: AST.AST, direction: Direction): Validator | undefined => {
  const memo = new Map<AST.AST, Validator | undefined>()
  const go = (ast: AST.AST): Validator | undefined => {
    if (memo.has(ast)) return memo.get(ast)
    const compiled = goUncached(ast)
    memo.set(ast, compiled)
    return compiled
  }
  const goUncached = (ast: AST.AST): Validator | undefined => {
    switch (ast._tag) {
      case "StringKeyword":
        return isString
      case "NumberKeyword":
        return isNumber
      case "BooleanKeyword":
        return isBoolean
      case "UnknownKeyword":
      case "AnyKeyword":
        return identity
      case "Literal": {
        const literal = ast.literal
        return (u) => (u === literal ? u : FAIL)
      }
      case "Refinement": {
        const fast = ast.annotations[FastPredicateId] as FastPredicate | undefined
        if (fast !== undefined && ast.from._tag === "NumberKeyword") {
          return (u) => (fast(u) ? u : FAIL)
        }
        const from = go(ast.from)
        if (from === undefined) return undefined
        const refinement = ast
        return (u) => {
          const out = from(u)
          if (out === FAIL) return FAIL
          if (fast !== undefined) return fast(out) ? out : FAIL
          return Option.isNone(refinement.filter(out, parseOptions, refinement)) ? out : FAIL
        }
      }
      case "Union": {
        const simple = generateSimpleUnion(ast)
        if (simple !== undefined) return simple
        const members: Array<Validator> = []
        for (const member of ast.types) {
          const compiled = go(member)
          if (compiled === undefined) return undefined
          members.push(compiled)
        }
        const generated = generateUnion(members)
        if (generated !== undefined) return generated
        return (u) => {
          for (let i = 0; i < members.length; i++) {
            const out = members[i]!(u)
            if (out !== FAIL) return out
          }
          return FAIL
        }
      }
      case "TupleType": {
        if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
        const generated = generateArray(ast.rest[0]!.type, go)
        if (generated !== undefined) return generated
        const element = go(ast.rest[0]!.type)
        if (element === undefined) return undefined
        return (u) => {
          if (!Array.isArray(u)) return FAIL
          let out: Array<unknown> | undefined
          for (let i = 0; i < u.length; i++) {
            const item = element(u[i])
            if (item === FAIL) return FAIL
            if (item !== u[i] && out === undefined) out = u.slice(0, i)
            if (out !== undefined) out.push(item)
          }
          // Every element decoded to itself: the array is its own decoded value.
          return out ?? u
        }
      }
      case "TypeLiteral": {
        if (direction !== "parsed") return generateTypeLiteral(ast, go) ?? compileTypeLiteral(ast, go)
        // Where Object.prototype holds a name the shape reads, the careful validator decides.
        let careful: Validator | undefined
        const fallback: Validator = (u) => (careful ??= compile(ast, "decode") ?? (() => FAIL))(u)
        return generateParsedTypeLiteral(ast, go, fallback) ?? compile(ast, "decode")
      }
      case "Transformation": {
        // Only synchronous, total transformations (`Schema.transform`) are compiled.
        if (ast.transformation._tag !== "FinalTransformation") return undefined
        const from = go(ast.from)
        // What a transformation yields is not fresh from JSON.parse: checked as any value.
        const to = direction === "parsed" ? compile(ast.to, "decode") : go(ast.to)
        if (from === undefined || to === undefined) return undefined
        const { decode, encode } = ast.transformation
        const self = ast
        const run = (f: typeof decode, value: unknown): unknown => {
          const result = f(value, parseOptions, self, value)
          return Either.isEither(result) && Either.isRight(result) ? result.right : FAIL
        }
        if (direction !== "encode") {
          return (u) => {
            const decoded = from(u)
            if (decoded === FAIL) return FAIL
            const transformed = run(decode, decoded)
            return transformed === FAIL ? FAIL : to(transformed)
          }
        }
        return (u) => {
          const encoded = to(u)
          if (encoded === FAIL) return FAIL
          const transformed = run(encode, encoded)
          return transformed === FAIL ? FAIL : from(transformed)
        }
      }
      default:
        return undefined
    }
  }
  return go(ast)
}

const compileTypeLiteral = (
  ast: AST.TypeLiteral,
  go: (ast: AST.AST) => Validator | undefined
): Validator | undefined => {
  if (ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) {
    return (u) => (u === null || u === undefined ? FAIL : u)
  }
  const count = ast.propertySignatures.length
  const names: Array<string> = []
  const optional: Array<boolean> = []
  const validators: Array<Validator> = []
  for (const ps of ast.propertySignatures) {
    if (typeof ps.name !== "string") return undefined
    const compiled = go(ps.type)
    if (compiled === undefined) return undefined
    names.push(ps.name)
    optional.push(ps.isOptional)
    validators.push(compiled)
  }
  if (ast.indexSignatures.length > 1) return undefined
  /** Copies the declared properties into `out`; false when one is missing or invalid. */
  const copyDeclared = (input: Record<string, unknown>, out: Record<string, unknown>): boolean => {
    for (let i = 0; i < count; i++) {
      const name = names[i]!
      if (!hasOwn.call(input, name)) {
        if (optional[i]) continue
        return false
      }
      const value = validators[i]!(input[name])
      if (value === FAIL) return false
      out[name] = value
    }
    return true
  }
  const index = ast.indexSignatures[0]
  if (index === undefined) {
    return (u) => {
      if (typeof u !== "object" || u === null || Array.isArray(u)) return FAIL
      const out: Record<string, unknown> = {}
      return copyDeclared(u as Record<string, unknown>, out) ? out : FAIL
    }
  }
  if (index.parameter._tag !== "StringKeyword") return undefined
  const value = go(index.type)
  if (value === undefined) return undefined
  const declared = new Set(names)
  return (u) => {
    if (typeof u !== "object" || u === null || Array.isArray(u)) return FAIL
    const input = u as Record<string, unknown>
    const out: Record<string, unknown> = {}
    if (!copyDeclared(input, out)) return FAIL
    for (const key of Object.keys(input)) {
      // An own `__proto__` key would replace `out`'s prototype: it is dropped (the codec already
      // drops it while parsing; this guards values built in code).
      if (key === "__proto__") continue
      const decoded = value(input[key])
      if (decoded === FAIL) return FAIL
      if (!declared.has(key)) out[key] = decoded
    }
    return out
  }
}

const canGenerate = (() => {
  try {
    return new Function("return 1")() === 1
  } catch {
    // A Content-Security-Policy without 'unsafe-eval': the closure compiler does the work.
    return false
  }
})()

/**
 * A struct without index signatures, as specialised source code: literal property names keep
 * every property access and the output object literal monomorphic, which a shared loop over
 * names cannot. Field validators are inlined for strings and literals, called otherwise.
 */
const generateTypeLiteral = (
  ast: AST.TypeLiteral,
  go: (ast: AST.AST) => Validator | undefined
): Validator | undefined => {
  if (!canGenerate || ast.indexSignatures.length > 0 || ast.propertySignatures.length === 0) return undefined
  const params: Array<string> = ["FAIL", "hasOwn", "OP", "getProto", "isArray"]
  const args: Array<unknown> = [FAIL, hasOwn, Object.prototype, Object.getPrototypeOf, Array.isArray]
  const bind = binder(params, args)
  const keys = ast.propertySignatures.map((ps) => JSON.stringify(ps.name))
  // `plain`: `u` inherits from an Object.prototype that holds none of the declared names, so a
  // defined value read from `u` is its own. Otherwise every key is checked with hasOwnProperty,
  // as Effect's decoder does.
  const lines: Array<string> = [
    `if (typeof u !== "object" || u === null) return FAIL;`,
    `var proto = getProto(u);`,
    `if (proto !== OP && isArray(u)) return FAIL;`,
    `var plain = proto === OP${keys.map((key) => ` && OP[${key}] === undefined`).join("")};`,
    // Whether every field decoded to its input value: then, with no other enumerable key, `u`
    // itself is the decoded value and nothing is copied.
    "var same = true;"
  ]
  const required: Array<string> = []
  const optional: Array<string> = []
  lines.push(`var present = ${ast.propertySignatures.filter((ps) => !ps.isOptional).length};`)
  for (let i = 0; i < ast.propertySignatures.length; i++) {
    const ps = ast.propertySignatures[i]!
    if (typeof ps.name !== "string") return undefined
    const key = keys[i]!
    const check = (value: string, out: string): string | undefined => {
      const simple = simpleCheck(ps.type, value, bind)
      if (simple !== undefined) return `if (!(${simple})) return FAIL; ${out} = ${value};`
      const validator = go(ps.type)
      if (validator === undefined) return undefined
      const v = bind(validator)
      return `${out} = ${v}(${value}); if (${out} === FAIL) return FAIL; if (${out} !== ${value}) same = false;`
    }
    const body = check(`x${i}`, `o${i}`)
    if (body === undefined) return undefined
    const present = `((x${i} !== undefined && plain) || hasOwn.call(u, ${key}))`
    lines.push(`var o${i}; var x${i} = u[${key}];`)
    if (ps.isOptional) {
      lines.push(`var h${i} = ${present}; if (h${i}) { ${body} present++; }`)
      optional.push(`if (h${i}) out[${key}] = o${i};`)
    } else {
      lines.push(`if (!${present}) return FAIL; ${body}`)
      required.push(`${key}: o${i}`)
    }
  }
  lines.push(
    "if (same && plain) { var n = 0; for (var k in u) n++; if (n === present) return u; }",
    `var out = { ${required.join(", ")} };`,
    ...optional,
    "return out;"
  )
  return generate(params, args, "validate", lines.join("\n"))
}

/**
 * {@link generateTypeLiteral} for values fresh from `JSON.parse`: their objects inherit from
 * Object.prototype and hold no `undefined`, so while Object.prototype holds none of the names read
 * here, a defined value is an own one and `undefined` means absent. Otherwise `careful` decides.
 */
const generateParsedTypeLiteral = (
  ast: AST.TypeLiteral,
  go: (ast: AST.AST) => Validator | undefined,
  careful: Validator
): Validator | undefined => {
  if (!canGenerate || ast.indexSignatures.length > 0 || ast.propertySignatures.length === 0) return undefined
  const params: Array<string> = ["FAIL", "OP", "isArray", "careful"]
  const args: Array<unknown> = [FAIL, Object.prototype, Array.isArray, careful]
  const bind = binder(params, args)
  const keys = ast.propertySignatures.map((ps) => JSON.stringify(ps.name))
  const lines: Array<string> = [
    `if (typeof u !== "object" || u === null || isArray(u)) return FAIL;`,
    `if (${keys.map((key) => `OP[${key}] !== undefined`).join(" || ")}) return careful(u);`,
    // Whether every field decoded to its input value: then, with no other key, `u` itself is the
    // decoded value and nothing is copied.
    "var same = true;",
    `var present = ${ast.propertySignatures.filter((ps) => !ps.isOptional).length};`
  ]
  const required: Array<string> = []
  const optional: Array<string> = []
  for (let i = 0; i < ast.propertySignatures.length; i++) {
    const ps = ast.propertySignatures[i]!
    if (typeof ps.name !== "string") return undefined
    const key = keys[i]!
    const x = `x${i}`
    const o = `o${i}`
    // A simple check rejects `undefined`, so it also tells that a required field is present.
    const simple = simpleCheck(ps.type, x, bind)
    let body: string
    if (simple !== undefined) body = `if (!(${simple})) return FAIL; var ${o} = ${x};`
    else {
      const validator = go(ps.type)
      if (validator === undefined) return undefined
      body = `var ${o} = ${bind(validator)}(${x}); if (${o} === FAIL) return FAIL; if (${o} !== ${x}) same = false;`
    }
    lines.push(`var ${x} = u[${key}];`)
    if (ps.isOptional) {
      lines.push(`var h${i} = ${x} !== undefined; if (h${i}) { ${body} present++; }`)
      optional.push(`if (h${i}) out[${key}] = ${o};`)
    } else {
      lines.push(simple !== undefined ? body : `if (${x} === undefined) return FAIL; ${body}`)
      required.push(`${key}: ${o}`)
    }
  }
  lines.push(
    // `for...in` also counts inherited enumerable names: then the fields are copied.
    "if (same) { var n = 0; for (var k in u) n++; if (n === present) return u; }",
    `var out = { ${required.join(", ")} };`,
    ...optional,
    "return out;"
  )
  return generate(params, args, "validateParsed", lines.join("\n"))
}

/** Makes a function from source; `params` name the values in `args` it closes over. */
const generate = (params: Array<string>, args: Array<unknown>, name: string, body: string): Validator =>
  new Function(...params, `"use strict"; return function ${name}(u) {\n${body}\n}`)(...args) as Validator

/** Adds a value for generated code to close over; returns the name it goes by. */
const binder =
  (params: Array<string>, args: Array<unknown>) =>
  (value: unknown): string => {
    const name = `f${params.length}`
    params.push(name)
    args.push(value)
    return name
  }

/**
 * A boolean expression over `value` that holds exactly when `ast` accepts it and decodes it to
 * itself: strings, numbers, booleans, literals, number refinements with a fast predicate, and
 * unions of those (nullable fields, open enumerations). Inlined, these cost a comparison or two
 * instead of calls through a generic union.
 */
const simpleCheck = (ast: AST.AST, value: string, bind: (value: unknown) => string): string | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return `typeof ${value} === "string"`
    case "NumberKeyword":
      return `typeof ${value} === "number"`
    case "BooleanKeyword":
      return `typeof ${value} === "boolean"`
    case "Literal":
      return ast.literal === null
        ? `${value} === null`
        : typeof ast.literal === "bigint"
          ? undefined
          : `${value} === ${JSON.stringify(ast.literal)}`
    case "Refinement": {
      const fast = ast.annotations[FastPredicateId]
      return fast !== undefined && ast.from._tag === "NumberKeyword" ? `${bind(fast)}(${value})` : undefined
    }
    case "Union": {
      // A string literal next to `string` (an open enumeration) adds nothing to the check.
      const anyString = ast.types.some((member) => member._tag === "StringKeyword")
      const parts: Array<string> = []
      for (const member of ast.types) {
        if (anyString && member._tag === "Literal" && typeof member.literal === "string") continue
        const part = simpleCheck(member, value, bind)
        if (part === undefined) return undefined
        parts.push(`(${part})`)
      }
      return parts.join(" || ")
    }
    default:
      return undefined
  }
}

/** An array of `element`, as its own function, so the element's validator is called from one site. */
const generateArray = (element: AST.AST, go: (ast: AST.AST) => Validator | undefined): Validator | undefined => {
  if (!canGenerate) return undefined
  const params: Array<string> = ["FAIL", "isArray"]
  const args: Array<unknown> = [FAIL, Array.isArray]
  const bind = binder(params, args)
  const head = "if (!isArray(u)) return FAIL;"
  const simple = simpleCheck(element, "x", bind)
  if (simple !== undefined) {
    return generate(
      params,
      args,
      "validateArray",
      `${head}\nfor (var i = 0; i < u.length; i++) { var x = u[i]; if (!(${simple})) return FAIL; }\nreturn u;`
    )
  }
  const validator = go(element)
  if (validator === undefined) return undefined
  const v = bind(validator)
  return generate(
    params,
    args,
    "validateArray",
    [
      head,
      // Every element decoded to itself: the array is its own decoded value.
      "var out;",
      `for (var i = 0; i < u.length; i++) { var x = u[i]; var item = ${v}(x); if (item === FAIL) return FAIL;`,
      "if (item !== x && out === undefined) out = u.slice(0, i); if (out !== undefined) out.push(item); }",
      "return out === undefined ? u : out;"
    ].join("\n")
  )
}

/** A union of primitives and literals (a nullable field, an open enumeration) as one check. */
const generateSimpleUnion = (ast: AST.Union): Validator | undefined => {
  if (!canGenerate) return undefined
  const params: Array<string> = ["FAIL"]
  const args: Array<unknown> = [FAIL]
  const simple = simpleCheck(ast, "u", binder(params, args))
  return simple === undefined ? undefined : generate(params, args, "validateUnion", `return (${simple}) ? u : FAIL;`)
}

/** Any other union: its members tried in order, each called from its own site. */
const generateUnion = (members: ReadonlyArray<Validator>): Validator | undefined => {
  if (!canGenerate) return undefined
  const params: Array<string> = ["FAIL"]
  const args: Array<unknown> = [FAIL]
  const bind = binder(params, args)
  const tries = members.map((member) => `o = ${bind(member)}(u); if (o !== FAIL) return o;`)
  return generate(params, args, "validateUnion", `var o;\n${tries.join("\n")}\nreturn FAIL;`)
}

/**
 * One function that runs the validator of `u.type`: `NO_TYPE` when `u` is not an object or its
 * `type` is none of `validators`' (a string compared by length first, then by value). Each type has
 * its own call site, so the call is monomorphic and the hot validators are inlined, where a lookup
 * in a table calls all of them from one (megamorphic) site.
 *
 * @internal
 */
export const dispatcher = (validators: ReadonlyArray<readonly [type: string, validator: Validator]>): Validator => {
  if (!canGenerate) {
    const table: Record<string, Validator | undefined> = Object.create(null)
    for (const [type, validator] of validators) table[type] = validator
    return (u) => {
      if (typeof u !== "object" || u === null || Array.isArray(u)) return NO_TYPE
      const type = (u as { readonly type?: unknown }).type
      const validator = typeof type === "string" ? table[type] : undefined
      return validator === undefined ? NO_TYPE : validator(u)
    }
  }
  const params: Array<string> = ["NO_TYPE", "isArray"]
  const args: Array<unknown> = [NO_TYPE, Array.isArray]
  const bind = binder(params, args)
  const byLength = new Map<number, Array<string>>()
  for (const [type, validator] of validators) {
    const line = `if (t === ${JSON.stringify(type)}) return ${bind(validator)}(u);`
    byLength.set(type.length, [...(byLength.get(type.length) ?? []), line])
  }
  const cases = [...byLength].map(([length, lines]) => `case ${length}:\n${lines.join("\n")}\nreturn NO_TYPE;`)
  return generate(
    params,
    args,
    "dispatch",
    [
      'if (typeof u !== "object" || u === null || isArray(u)) return NO_TYPE;',
      "var t = u.type;",
      'if (typeof t !== "string") return NO_TYPE;',
      `switch (t.length) {\n${cases.join("\n")}\n}`,
      "return NO_TYPE;"
    ].join("\n")
  )
}

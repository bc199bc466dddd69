/**
 * The codec's tables, one per direction: for each message `type` its Schema and its compiled
 * validators (decode, decode of freshly parsed JSON, encode), whether it holds free JSON (`open`),
 * and one dispatcher over the closed members for the fast path. Built once, when the module loads.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import * as ClientMessage from "../ClientMessage.js"
import * as ServerEvent from "../ServerEvent.js"
import { compile, dispatcher, FAIL, type Validator } from "./compile.js"
import { typeName } from "./typeName.js"

export interface Member {
  readonly schema: Schema.Schema<any, any>
  readonly decode: Validator
  /** `decode` for values fresh from `JSON.parse`. */
  readonly parsed: Validator
  readonly encode: Validator
  /** Holds free JSON or records, where a parsed `__proto__` key could survive decoding. */
  readonly open: boolean
}

export interface Catalog {
  /** The closed members' `parsed` validators, by `type`: FAIL, NO_TYPE or the decoded value. */
  readonly decodeClosed: Validator
  /** By `type`; no prototype, so no `type` reaches an inherited property. */
  readonly members: Readonly<Record<string, Member | undefined>>
  /** Where a `type` not in `members` goes; `undefined` makes it an `UnknownType` error. */
  readonly unknown: Member | undefined
  /** The `type` a typed value carries when it is the unknown member. */
  readonly unknownTag: string | undefined
  readonly noun: string
}

export const parseOptions = { errors: "first", exact: true } as const

const member = (schema: Schema.Schema<any, any>): Member => {
  const slowDecode = ParseResult.decodeUnknownEither(schema, parseOptions)
  const slowEncode = ParseResult.encodeUnknownEither(schema, parseOptions)
  const fallback =
    (slow: typeof slowDecode): Validator =>
    (u) => {
      const result = slow(u)
      return Either.isRight(result) ? result.right : FAIL
    }
  return {
    schema,
    decode: compile(schema.ast, "decode") ?? fallback(slowDecode),
    parsed: compile(schema.ast, "parsed") ?? fallback(slowDecode),
    encode: compile(schema.ast, "encode") ?? fallback(slowEncode),
    open: isOpen(schema.ast)
  }
}

const isOpen = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "UnknownKeyword":
    case "AnyKeyword":
      return true
    case "TypeLiteral":
      return ast.indexSignatures.length > 0 || ast.propertySignatures.some((ps) => isOpen(ps.type))
    case "TupleType":
      return ast.elements.some((e) => isOpen(e.type)) || ast.rest.some((r) => isOpen(r.type))
    case "Union":
      return ast.types.some(isOpen)
    case "Refinement":
      return isOpen(ast.from)
    case "Transformation":
      return isOpen(ast.from) || isOpen(ast.to)
    case "Suspend":
    case "Declaration":
      return true
    default:
      return false
  }
}

const catalog = (
  schemas: ReadonlyArray<Schema.Schema.AnyNoContext & { readonly Type: { readonly type: string } }>,
  unknown: Schema.Schema<any, any> | undefined,
  noun: string
): Catalog => {
  const members: Record<string, Member> = Object.assign(
    Object.create(null),
    Object.fromEntries(schemas.map((schema) => [typeName(schema), member(schema)]))
  )
  return {
    members,
    decodeClosed: dispatcher(
      Object.entries(members).flatMap(([type, m]) => (m.open ? [] : [[type, m.parsed] as const]))
    ),
    unknown: unknown === undefined ? undefined : member(unknown),
    unknownTag: unknown === undefined ? undefined : "unknown",
    noun
  }
}

/** Server events: what a client decodes and a gateway encodes. */
export const serverCatalog = catalog(ServerEvent.knownMembers, ServerEvent.UnknownEventFromWire, "server event")
/** Client messages: what a gateway decodes and a client encodes. */
export const clientCatalog = catalog(ClientMessage.members, undefined, "client message")

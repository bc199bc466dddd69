/**
 * Text frame <-> typed value, for both ends of the socket. Nothing here throws: every failure is a
 * {@link ProtocolError} with a `reason` and a precise message.
 *
 * - {@link ClientCodec}: encodes `ClientMessage`, decodes `ServerEvent` (what a client needs).
 * - {@link GatewayCodec}: decodes `ClientMessage`, encodes `ServerEvent` (what a gateway needs).
 *
 * The Schemas are compiled once into plain validators (see `internal/compile.ts`); Effect's decoder
 * runs only when a frame is rejected, to describe why.
 *
 * Security: keys named `__proto__` are dropped from free JSON after parsing, so no frame can reach
 * an object's prototype; `constructor` and other keys are plain data. Free JSON deeper than
 * `maxDepth` is refused both ways, and the walks that check it are iterative: no input, however
 * deep, cyclic or hostile (getters, proxies, `toJSON`), makes a codec throw.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import * as ClientMessage from "./ClientMessage.js"
import { compile, dispatcher, FAIL, NO_TYPE, type Validator } from "./internal/compile.js"
import { describeThrown, formatIssue, formatPath, render } from "./internal/format.js"
import { checkNesting, dropProtoKeys } from "./internal/nesting.js"
import { typeName } from "./internal/typeName.js"
import { ProtocolError } from "./ProtocolError.js"
import * as ServerEvent from "./ServerEvent.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface CodecOptions {
  /**
   * Frames longer than this many UTF-8 bytes are rejected with `FrameTooLarge`, before parsing
   * (decode) or before sending (encode).
   *
   * @default 16 MiB
   */
  readonly maxFrameBytes?: number
  /**
   * How deeply a frame may nest objects and arrays, the message object itself being level 1.
   * Only free JSON (tool arguments and outputs, metadata, the payload of an unknown event) can nest
   * deeply; where it goes deeper, decoding fails with `FrameTooDeep` and encoding refuses the
   * value. So whatever decodes encodes again, and code that walks a decoded value recursively
   * (`JSON.stringify` among it) has a known bound. Extra fields of a known message are dropped
   * unread, whatever their depth.
   *
   * @default 1024
   */
  readonly maxDepth?: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxFrameBytes = 16 * 1024 * 1024

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxDepth = 1024

/**
 * The codec a client uses.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientCodec {
  readonly maxFrameBytes: number
  readonly maxDepth: number
  /** A text frame from the gateway to a typed event. Unknown types become `UnknownEvent`. */
  readonly decode: (frame: string) => Either.Either<ServerEvent.ServerEvent, ProtocolError>
  /** An already parsed JSON value to a typed event. */
  readonly decodeUnknown: (value: unknown) => Either.Either<ServerEvent.ServerEvent, ProtocolError>
  /** A message to a text frame, validating it first. */
  readonly encode: (message: ClientMessage.ClientMessage) => Either.Either<string, ProtocolError>
}

/**
 * The codec a gateway (or a service checking traffic) uses.
 *
 * @since 0.1.0
 * @category models
 */
export interface GatewayCodec {
  readonly maxFrameBytes: number
  readonly maxDepth: number
  /** A text frame from a client to a typed message. Unknown types are an `UnknownType` error. */
  readonly decode: (frame: string) => Either.Either<ClientMessage.ClientMessage, ProtocolError>
  /** An already parsed JSON value to a typed message. */
  readonly decodeUnknown: (value: unknown) => Either.Either<ClientMessage.ClientMessage, ProtocolError>
  /** An event to a text frame, validating it first. */
  readonly encode: (event: ServerEvent.ServerEvent) => Either.Either<string, ProtocolError>
}

interface Member {
  readonly schema: Schema.Schema<any, any>
  readonly decode: Validator
  /** `decode` for values fresh from `JSON.parse`. */
  readonly parsed: Validator
  readonly encode: Validator
  /** Holds free JSON or records, where a parsed `__proto__` key could survive decoding. */
  readonly open: boolean
}

interface Catalog {
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

const parseOptions = { errors: "first", exact: true } as const

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

const serverCatalog = catalog(ServerEvent.knownMembers, ServerEvent.UnknownEventFromWire, "server event")
const clientCatalog = catalog(ClientMessage.members, undefined, "client message")

interface Limits {
  readonly maxFrameBytes: number
  readonly maxDepth: number
}

const fail = (
  reason: ProtocolError["reason"],
  messageType: string | undefined,
  path: ReadonlyArray<string | number>,
  detail: string
): Either.Either<never, ProtocolError> =>
  Either.left(
    new ProtocolError({
      reason,
      ...(messageType === undefined ? {} : { messageType }),
      path,
      message: `${formatPath(messageType ?? "message", path)}: ${detail}`
    })
  )

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * The wire form of a decoded or encoded value, checked for what `JSON.stringify` and recursive
 * readers cannot take: nesting past `maxDepth`, a cycle, more containers than a frame can hold.
 */
const checkWire = (
  type: string,
  wire: object,
  limits: Limits,
  prefix: ReadonlyArray<string> = []
): Either.Either<never, ProtocolError> | undefined => {
  // Each object or array takes at least two bytes of the frame.
  const problem = checkNesting(wire, limits.maxDepth, Math.floor(limits.maxFrameBytes / 2))
  if (problem === undefined) return undefined
  switch (problem.kind) {
    case "TooDeep":
      return fail(
        "FrameTooDeep",
        type,
        [...prefix, problem.field],
        `nests deeper than the maximum of ${limits.maxDepth} levels`
      )
    case "Cyclic":
      return fail(
        "InvalidMessage",
        type,
        [...prefix, problem.field],
        "refers to itself (a cycle), which JSON cannot hold"
      )
    case "TooMany":
      return fail(
        "FrameTooLarge",
        type,
        [],
        `holds more objects and arrays than a frame of at most ${limits.maxFrameBytes} bytes can`
      )
  }
}

/** A value that threw while being read or written (a getter, a proxy, `toJSON`, a BigInt). */
const threw = (type: unknown, doing: string, error: unknown): Either.Either<never, ProtocolError> =>
  fail("InvalidMessage", typeof type === "string" ? type : undefined, [], `${doing} threw ${describeThrown(error)}`)

const decodeValue = (
  cat: Catalog,
  value: unknown,
  source: string | undefined,
  limits: Limits,
  checkDepth: boolean
): Either.Either<any, ProtocolError> => {
  // A value with a source was parsed from it here.
  const parsed = source !== undefined
  if (!isObject(value)) return fail("InvalidMessage", undefined, [], `expected an object, got ${render(value, source)}`)
  const type = value.type
  if (typeof type !== "string") {
    return fail(
      "InvalidMessage",
      undefined,
      ["type"],
      type === undefined ? "is missing" : `expected a string, got ${render(type, source)}`
    )
  }
  const target = cat.members[type] ?? cat.unknown
  if (target === undefined) {
    return fail("UnknownType", type, ["type"], `unknown ${cat.noun} type ${render(type, undefined)}`)
  }
  const out = parsed ? target.parsed(value) : target.decode(value)
  if (out === FAIL) return describeFailure(target, "decode", type, value, source)
  // An unknown event's wire form is the value itself; a known message's is what was kept of it.
  if (checkDepth && target.open)
    return checkWire(type, target === cat.unknown ? value : (out as object), limits) ?? Either.right(out)
  return Either.right(out)
}

const describeFailure = (
  target: Member,
  direction: "decode" | "encode",
  type: string,
  value: unknown,
  source: string | undefined
): Either.Either<any, ProtocolError> => {
  let slow: Either.Either<unknown, ParseResult.ParseIssue>
  try {
    slow = (direction === "decode" ? ParseResult.decodeUnknownEither : ParseResult.encodeUnknownEither)(
      target.schema,
      parseOptions
    )(value)
  } catch {
    // Effect's decoder can throw on hostile values (an object with `toString: null` where a
    // literal is looked up); the compiled validator has already rejected the value.
    return fail("InvalidMessage", type, [], `invalid ${type}`)
  }
  // The compiled validator and Effect's decoder agree (a property test holds them to it); should
  // they ever differ, Effect's verdict is the reference.
  if (Either.isRight(slow)) return Either.right(slow.right)
  const formatted = formatIssue(slow.left, source)
  return fail(formatted.reason, type, formatted.path, formatted.detail)
}

const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/**
 * Whether `text` exceeds `max` UTF-8 bytes, counting only when the length alone cannot tell.
 *
 * @since 0.1.0
 * @category utils
 */
export const exceedsBytes = (text: string, max: number): boolean =>
  text.length > max ? true : text.length * 3 <= max ? false : utf8Length(text) > max

/** Whether the text could spell a `__proto__` key: literally, or with `\u00XX` escapes. */
const mayHideProto = (text: string): boolean => text.includes("__proto__") || text.includes("\\u00")

/** What `decode` does past the fast path: free JSON, unknown types, rejections. */
const decodeParsed = (
  cat: Catalog,
  frame: string,
  value: unknown,
  limits: Limits
): Either.Either<any, ProtocolError> => {
  // Where free JSON is kept, `__proto__` keys are dropped (rare: only when the frame spells one),
  // and the depth is checked when the frame is long enough to nest past the limit.
  if (typeof value === "object" && value !== null && mayHideProto(frame)) dropProtoKeys(value)
  return decodeValue(cat, value, frame, limits, frame.length >= 2 * (limits.maxDepth + 1))
}

/** `decode` for one catalog and limits: text frame to typed value. */
const frameDecoder = (cat: Catalog, limits: Limits) => {
  const max = limits.maxFrameBytes
  return (frame: string): Either.Either<any, ProtocolError> => {
    if (typeof frame !== "string") {
      return fail("InvalidJson", undefined, [], `expected a text frame (a string), got ${render(frame, undefined)}`)
    }
    if (frame.length * 3 > max && exceedsBytes(frame, max)) {
      return fail("FrameTooLarge", undefined, [], `frame exceeds the maximum of ${max} bytes`)
    }
    let value: unknown
    try {
      value = JSON.parse(frame)
    } catch (error) {
      return fail("InvalidJson", undefined, [], `invalid JSON (${(error as Error).message})`)
    }
    // A closed message keeps only its declared keys: no `__proto__` key and no deep extra field
    // survives it.
    const out = cat.decodeClosed(value)
    if (out !== FAIL && out !== NO_TYPE) return Either.right(out)
    return decodeParsed(cat, frame, value, limits)
  }
}

const encodeValue = (
  cat: Catalog,
  value: { readonly type: string },
  limits: Limits
): Either.Either<string, ProtocolError> => {
  let type: unknown
  try {
    type = isObject(value) ? value.type : undefined
    const target = typeof type !== "string" ? undefined : type === cat.unknownTag ? cat.unknown : cat.members[type]
    if (target === undefined) {
      return fail(
        "UnknownType",
        typeof type === "string" ? type : undefined,
        ["type"],
        `cannot encode a ${cat.noun} of type ${render(type, undefined)}`
      )
    }
    const wire = target.encode(value)
    if (wire === FAIL) return describeFailure(target, "encode", type as string, value, undefined)
    if (target.open) {
      // An unknown event's wire form is its payload.
      const problem = checkWire(type as string, wire as object, limits, target === cat.unknown ? ["payload"] : [])
      if (problem !== undefined) return problem
    }
    const text: string | undefined = JSON.stringify(wire)
    if (typeof text !== "string") return fail("InvalidMessage", type as string, [], "is not JSON (toJSON gave nothing)")
    if (exceedsBytes(text, limits.maxFrameBytes)) {
      return fail(
        "FrameTooLarge",
        type as string,
        [],
        `encoded frame exceeds the maximum of ${limits.maxFrameBytes} bytes`
      )
    }
    return Either.right(text)
  } catch (error) {
    return threw(type, "encoding", error)
  }
}

const decodeUnknown = (cat: Catalog, value: unknown, limits: Limits): Either.Either<any, ProtocolError> => {
  try {
    return decodeValue(cat, value, undefined, limits, true)
  } catch (error) {
    // A getter or a proxy trap of the value threw.
    return threw(undefined, "reading the value", error)
  }
}

const limitsOf = (options: CodecOptions): Limits => ({
  maxFrameBytes: options.maxFrameBytes ?? defaultMaxFrameBytes,
  maxDepth: options.maxDepth ?? defaultMaxDepth
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeClientCodec = (options: CodecOptions = {}): ClientCodec => {
  const limits = limitsOf(options)
  return {
    ...limits,
    decode: frameDecoder(serverCatalog, limits),
    decodeUnknown: (value) => decodeUnknown(serverCatalog, value, limits),
    encode: (message) => encodeValue(clientCatalog, message, limits)
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeGatewayCodec = (options: CodecOptions = {}): GatewayCodec => {
  const limits = limitsOf(options)
  return {
    ...limits,
    decode: frameDecoder(clientCatalog, limits),
    decodeUnknown: (value) => decodeUnknown(clientCatalog, value, limits),
    encode: (event) => encodeValue(serverCatalog, event, limits)
  }
}

/**
 * The client codec with default options.
 *
 * @since 0.1.0
 * @category codecs
 */
export const client: ClientCodec = makeClientCodec()

/**
 * The gateway codec with default options.
 *
 * @since 0.1.0
 * @category codecs
 */
export const gateway: GatewayCodec = makeGatewayCodec()

/**
 * Decodes one server event frame with the default options.
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodeServerEvent = client.decode

/**
 * @since 0.1.0
 * @category codecs
 */
export const encodeClientMessage = client.encode

/**
 * @since 0.1.0
 * @category codecs
 */
export const decodeClientMessage = gateway.decode

/**
 * @since 0.1.0
 * @category codecs
 */
export const encodeServerEvent = gateway.encode

/**
 * The codec's frame and value paths: a text frame to a typed value (size, `JSON.parse`, the
 * closed members' fast path, then `__proto__` keys dropped, the depth checked and the member's
 * validator), a JSON value to a typed value, a typed value to a text frame (validated, its wire
 * form checked for depth and cycles, then sized); and every failure as a `ProtocolError`, with
 * Effect's decoder describing a rejection.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import { ProtocolError } from "../ProtocolError.js"
import { type Catalog, type Member, parseOptions } from "./catalog.js"
import { FAIL, NO_TYPE } from "./compile.js"
import { describeThrown, formatIssue, formatPath, render } from "./format.js"
import { checkNesting, dropProtoKeys } from "./nesting.js"

export interface Limits {
  readonly maxFrameBytes: number
  readonly maxDepth: number
}

const error = (
  reason: ProtocolError["reason"],
  messageType: string | undefined,
  path: ReadonlyArray<string | number>,
  detail: string
): ProtocolError =>
  new ProtocolError({
    reason,
    ...(messageType === undefined ? {} : { messageType }),
    path,
    message: `${formatPath(messageType ?? "message", path)}: ${detail}`
  })

const fail = (
  reason: ProtocolError["reason"],
  messageType: string | undefined,
  path: ReadonlyArray<string | number>,
  detail: string
): Either.Either<never, ProtocolError> => Either.left(error(reason, messageType, path, detail))

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

/** See `Codec.exceedsBytes`. */
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

/**
 * Text frame to typed value or `ProtocolError`, for one catalog and limits: what `decode` and
 * `decodeOrElse` share. A frame the fast path accepts allocates nothing past `JSON.parse`'s own
 * objects. A decoded value is plain data, never a `ProtocolError`.
 */
const frameReader = (cat: Catalog, limits: Limits) => {
  const max = limits.maxFrameBytes
  return (frame: string): any => {
    if (typeof frame !== "string") {
      return error("InvalidJson", undefined, [], `expected a text frame (a string), got ${render(frame, undefined)}`)
    }
    if (frame.length * 3 > max && exceedsBytes(frame, max)) {
      return error("FrameTooLarge", undefined, [], `frame exceeds the maximum of ${max} bytes`)
    }
    let value: unknown
    try {
      value = JSON.parse(frame)
    } catch (thrown) {
      return error("InvalidJson", undefined, [], `invalid JSON (${(thrown as Error).message})`)
    }
    // A closed message keeps only its declared keys: no `__proto__` key and no deep extra field
    // survives it.
    const out = cat.decodeClosed(value)
    if (out !== FAIL && out !== NO_TYPE) return out
    const slow = decodeParsed(cat, frame, value, limits)
    return Either.isRight(slow) ? slow.right : slow.left
  }
}

/** `decode` for one catalog and limits: text frame to typed value. */
export const frameDecoder = (cat: Catalog, limits: Limits) => {
  const read = frameReader(cat, limits)
  return (frame: string): Either.Either<any, ProtocolError> => {
    const out = read(frame)
    return out instanceof ProtocolError ? Either.left(out) : Either.right(out)
  }
}

/** `decodeOrElse` for one catalog and limits: text frame to typed value, or `orElse`'s. */
export const frameDecoderOrElse = (cat: Catalog, limits: Limits) => {
  const read = frameReader(cat, limits)
  return <B>(frame: string, orElse: (error: ProtocolError) => B): any => {
    const out = read(frame)
    return out instanceof ProtocolError ? orElse(out) : out
  }
}

export const encodeValue = (
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

export const decodeUnknown = (cat: Catalog, value: unknown, limits: Limits): Either.Either<any, ProtocolError> => {
  try {
    return decodeValue(cat, value, undefined, limits, true)
  } catch (error) {
    // A getter or a proxy trap of the value threw.
    return threw(undefined, "reading the value", error)
  }
}

/**
 * Text frame <-> typed value, for both ends of the socket. Nothing here throws on any input: every
 * failure is a {@link ProtocolError} with a `reason` and a precise message. Two things do throw, both
 * mistakes in the calling code: a codec made with a limit that is not a positive safe integer
 * (`RangeError`), and an `orElse` given to `decodeOrElse` that throws (its exception passes through).
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
import type * as Either from "effect/Either"
import type * as ClientMessage from "./ClientMessage.js"
import { clientCatalog, serverCatalog } from "./internal/catalog.js"
import * as internal from "./internal/codec.js"
import type { ProtocolError } from "./ProtocolError.js"
import type * as ServerEvent from "./ServerEvent.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface CodecOptions {
  /**
   * Frames longer than this many UTF-8 bytes are rejected with `FrameTooLarge`, before parsing
   * (decode) or before sending (encode). A positive safe integer (otherwise `RangeError`).
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
   * unread, whatever their depth. A positive safe integer (otherwise `RangeError`).
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
  /**
   * `decode` without the `Either`: the event, or what `orElse` returns for the error (called once,
   * only for a rejected frame; what it throws passes through). For a loop over every frame of a
   * stream: a frame of a known type holding only its declared fields allocates nothing past the
   * objects `JSON.parse` makes, where `decode` adds a `Right` (bench/RESULTS.md).
   *
   * @since 0.2.0
   */
  readonly decodeOrElse: <B>(frame: string, orElse: (error: ProtocolError) => B) => ServerEvent.ServerEvent | B
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
  /**
   * `decode` without the `Either`: the message, or what `orElse` returns for the error (see
   * `ClientCodec.decodeOrElse`).
   *
   * @since 0.2.0
   */
  readonly decodeOrElse: <B>(frame: string, orElse: (error: ProtocolError) => B) => ClientMessage.ClientMessage | B
  /** An already parsed JSON value to a typed message. */
  readonly decodeUnknown: (value: unknown) => Either.Either<ClientMessage.ClientMessage, ProtocolError>
  /** An event to a text frame, validating it first. */
  readonly encode: (event: ServerEvent.ServerEvent) => Either.Either<string, ProtocolError>
}

/**
 * Whether `text` exceeds `max` UTF-8 bytes, counting only when the length alone cannot tell.
 *
 * @since 0.1.0
 * @category utils
 */
export const exceedsBytes: (text: string, max: number) => boolean = internal.exceedsBytes

/**
 * A limit is a positive safe integer: anything else (NaN, `Infinity`, 0, a string) would switch a
 * bound off without a word, so it is refused where the codec is made.
 */
const limit = (name: keyof CodecOptions, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `${name} must be a positive safe integer, got ${typeof value === "number" ? value : `${typeof value} ${JSON.stringify(value)}`}`
    )
  }
  return value
}

const limitsOf = (options: CodecOptions): internal.Limits => ({
  maxFrameBytes: limit("maxFrameBytes", options.maxFrameBytes, defaultMaxFrameBytes),
  maxDepth: limit("maxDepth", options.maxDepth, defaultMaxDepth)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeClientCodec = (options: CodecOptions = {}): ClientCodec => {
  const limits = limitsOf(options)
  return {
    ...limits,
    decode: internal.frameDecoder(serverCatalog, limits),
    decodeOrElse: internal.frameDecoderOrElse(serverCatalog, limits),
    decodeUnknown: (value) => internal.decodeUnknown(serverCatalog, value, limits),
    encode: (message) => internal.encodeValue(clientCatalog, message, limits)
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
    decode: internal.frameDecoder(clientCatalog, limits),
    decodeOrElse: internal.frameDecoderOrElse(clientCatalog, limits),
    decodeUnknown: (value) => internal.decodeUnknown(clientCatalog, value, limits),
    encode: (event) => internal.encodeValue(serverCatalog, event, limits)
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

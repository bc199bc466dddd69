/**
 * The one error the codecs fail with.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why a frame or a value was rejected:
 * - `FrameTooLarge`: the frame is over the codec's `maxFrameBytes`.
 * - `FrameTooDeep`: free JSON in the frame nests objects and arrays deeper than the codec's
 *   `maxDepth`.
 * - `InvalidJson`: the frame is not JSON.
 * - `InvalidMessage`: JSON, but not a valid message (not an object, no string `type`, a field
 *   missing or of the wrong type); or a value that cannot be written as JSON (a cycle, a BigInt,
 *   a getter or `toJSON` that throws).
 * - `UnknownType`: a `type` this side cannot handle (gateway side: an unknown client message).
 * - `UnsafeInteger`: an integer field holds a number outside ±(2^53-1), which JSON parsers round.
 *
 * @since 0.1.0
 * @category models
 */
export const ProtocolErrorReason = Schema.Literal(
  "FrameTooLarge",
  "FrameTooDeep",
  "InvalidJson",
  "InvalidMessage",
  "UnknownType",
  "UnsafeInteger"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ProtocolErrorReason = typeof ProtocolErrorReason.Type

/**
 * A frame or value that does not follow the protocol. `message` is precise:
 * `text_delta.seq: expected a non-negative safe integer, got 9223372036854775807`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>("@diminuendo/protocol/ProtocolError")(
  "ProtocolError",
  {
    reason: ProtocolErrorReason,
    /** The message's `type`, when it could be read. */
    messageType: Schema.optionalWith(Schema.String, { exact: true }),
    /** Where in the message the problem is: field names and array indexes. */
    path: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
    message: Schema.String
  }
) {}

/**
 * @since 0.1.0
 * @category guards
 */
export const isProtocolError = (u: unknown): u is ProtocolError => u instanceof ProtocolError

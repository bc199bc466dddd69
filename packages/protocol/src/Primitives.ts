/**
 * The field types every message is built from: safe integers, epoch timestamps, sequence numbers,
 * open enumerations and free JSON.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Marks a refinement with a plain predicate equivalent to its filter, so the compiled validator
 * can inline it. A property test holds the two to the same verdicts.
 *
 * @since 0.1.0
 * @category annotations
 */
export const FastPredicateId: unique symbol = Symbol.for("@diminuendo/protocol/FastPredicate")

/**
 * @since 0.1.0
 * @category annotations
 */
export type FastPredicate = (u: unknown) => boolean

const isSafeInteger: FastPredicate = (u) => Number.isSafeInteger(u)
const isNonNegativeSafeInteger: FastPredicate = (u) => Number.isSafeInteger(u) && (u as number) >= 0
const isFiniteNumber: FastPredicate = (u) => Number.isFinite(u)

/**
 * A JSON number that is an integer with |n| <= 2^53-1. Larger integers are rejected, never rounded.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SafeInt = Schema.Number.pipe(
  Schema.filter(isSafeInteger, {
    identifier: "SafeInt",
    description: "a safe integer",
    jsonSchema: { type: "integer", minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
    arbitrary: () => (fc) => fc.maxSafeInteger(),
    [FastPredicateId]: isSafeInteger
  })
)

/**
 * A safe integer that is >= 0: counts, sizes, iterations.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NonNegativeInt = Schema.Number.pipe(
  Schema.filter(isNonNegativeSafeInteger, {
    identifier: "NonNegativeInt",
    description: "a non-negative safe integer",
    jsonSchema: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    arbitrary: () => (fc) => fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER)),
    [FastPredicateId]: isNonNegativeSafeInteger
  })
)

/**
 * A session event's position in its session's log: strictly increasing per session, >= 0.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Seq = NonNegativeInt.annotations({
  identifier: "Seq",
  description: "a sequence number (non-negative safe integer)"
})

/**
 * Epoch milliseconds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Timestamp = NonNegativeInt.annotations({
  identifier: "Timestamp",
  description: "epoch milliseconds (non-negative safe integer)"
})

/**
 * A finite JSON number (no integer requirement): costs, ratios.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FiniteNumber = Schema.Number.pipe(
  Schema.filter(isFiniteNumber, {
    identifier: "FiniteNumber",
    description: "a finite number",
    jsonSchema: { type: "number" },
    arbitrary: () => (fc) => fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
    [FastPredicateId]: isFiniteNumber
  })
)

/**
 * A string enumeration that may grow: the known values are typed, unknown strings decode as themselves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const OpenEnum = <const Known extends ReadonlyArray<string>>(identifier: string, ...known: Known) =>
  Schema.Union(Schema.Literal(...known), Schema.String as unknown as Schema.Schema<string & {}>).annotations({
    identifier,
    description: `one of ${known.map((k) => JSON.stringify(k)).join(", ")} (open: other strings are kept)`
  })

const jsonArbitrary = () => (fc: typeof import("effect/FastCheck")) =>
  fc
    .jsonValue({ maxDepth: 3 })
    .map((v) => JSON.parse(JSON.stringify(v), (k, x) => (k === "__proto__" ? undefined : x)) as unknown)

/**
 * Any JSON value (tool arguments and outputs). Kept as parsed, not traversed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json = Schema.Unknown.annotations({
  identifier: "Json",
  description: "any JSON value",
  jsonSchema: {},
  arbitrary: jsonArbitrary
})

/**
 * A JSON object with arbitrary members (message metadata).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject = Schema.Record({ key: Schema.String, value: Json }).annotations({
  identifier: "JsonObject",
  description: "a JSON object"
})

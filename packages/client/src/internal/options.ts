/**
 * Checks of the client's numeric options.
 *
 * @internal
 */
import type { GatewayClientOptions } from "../GatewayClient.js"

/**
 * A count option (a bound, a window): `fallback` when absent, else a safe integer of at least
 * `least`. NaN, `Infinity` or a string would switch a bound off without a word, so making the client
 * dies with a `RangeError` instead (a mistake in the calling code, as an invalid `Duration` is).
 */
export const count = (name: keyof GatewayClientOptions, value: unknown, fallback: number, least: 0 | 1): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < least) {
    throw new RangeError(
      `GatewayClient: ${name} must be a ${least === 0 ? "non-negative" : "positive"} safe integer, got ${typeof value === "number" ? value : `${typeof value} ${JSON.stringify(value)}`}`
    )
  }
  return value
}

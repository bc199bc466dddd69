/**
 * What `diminuendo` exits with. Each failure reason of the client's `GatewayError` has its own code,
 * so a script can tell "the gateway is down" from "the token was refused" from "the turn failed".
 *
 * @since 0.1.0
 */
import type { GatewayErrorReason } from "@diminuendo/client"

/**
 * Codes that do not come from a `GatewayError`.
 *
 * @since 0.1.0
 * @category constants
 */
export const ExitCode = {
  /** Done. */
  Ok: 0,
  /** `validate` found at least one invalid frame. */
  InvalidFrames: 1,
  /** Bad arguments or options, or an input (token file, frames file) that cannot be read. */
  Usage: 2,
  /** The agent asked a question or a permission, no flag answered it and there is no terminal to ask on. */
  Unanswered: 3,
  /** The mirror's directory cannot be written or read, or its journal belongs to another session. */
  Mirror: 4,
  /** Stopped by Ctrl-C (or SIGTERM): 128 + SIGINT, as shells report it. */
  Interrupted: 130
} as const

/**
 * The code for each {@link GatewayErrorReason}.
 *
 * @since 0.1.0
 * @category constants
 */
export const byReason: { readonly [R in GatewayErrorReason]: number } = {
  ConnectionFailed: 10,
  AuthRequired: 11,
  AuthFailed: 12,
  IncompatibleProtocol: 13,
  RequestTimeout: 14,
  NotConnected: 15,
  ConnectionLost: 16,
  ServerError: 17,
  ProtocolError: 18,
  TurnFailed: 19,
  SlowConsumer: 20,
  Closed: 21
}

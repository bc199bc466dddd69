/**
 * The one error every client operation fails with.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Why an operation failed:
 * - `ConnectionFailed`: the socket could not be opened, or the handshake did not finish in time.
 * - `AuthRequired`: the gateway requires authentication and no token was given (an empty or blank
 *   token counts as none); also when the gateway does not say, no token was given, and no
 *   `authenticated` came within `connectTimeout`.
 * - `AuthFailed`: the gateway refused the token (`AUTH_FAILED`).
 * - `RequestTimeout`: no reply within `requestTimeout`.
 * - `NotConnected`: the client is closed (or reconnecting is off and the connection is gone).
 * - `ConnectionLost`: the connection dropped after a non-idempotent request was sent: whether the
 *   gateway acted on it is unknown, so it is not re-sent.
 * - `ServerError`: the gateway answered with an `error` event (`code`, `message`).
 * - `ProtocolError`: a message could not be encoded or a reply did not follow the protocol.
 * - `TurnFailed`: a turn ended with `turn_error` (`code`, `message`).
 * - `SlowConsumer`: an event stream's subscriber fell further behind than its buffer allows.
 * - `Closed`: the client's scope closed while the operation was pending.
 * - `IncompatibleProtocol`: the gateway's `welcome.protocolVersion` is one this client does not speak.
 *
 * @since 0.1.0
 * @category models
 */
export type GatewayErrorReason =
  | "ConnectionFailed"
  | "AuthRequired"
  | "AuthFailed"
  | "RequestTimeout"
  | "NotConnected"
  | "ConnectionLost"
  | "ServerError"
  | "ProtocolError"
  | "TurnFailed"
  | "SlowConsumer"
  | "Closed"
  | "IncompatibleProtocol"

/**
 * @since 0.1.0
 * @category errors
 */
export class GatewayError extends Data.TaggedError("GatewayError")<{
  readonly reason: GatewayErrorReason
  readonly message: string
  /** The gateway's error code, for `ServerError`, `AuthFailed` and `TurnFailed`. */
  readonly code?: string
  /** The client message type the failure belongs to, when there is one. */
  readonly requestType?: string
  readonly cause?: unknown
}> {}

/**
 * @since 0.1.0
 * @category guards
 */
export const isGatewayError = (u: unknown): u is GatewayError => u instanceof GatewayError

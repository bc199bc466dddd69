/**
 * The one error every client operation fails with: one tag, `GatewayError`, and a `reason`.
 *
 * Catching one reason is as short as catching a tag: `Effect.catchIf(GatewayError.is("RequestTimeout"), f)`
 * (a refinement, so `f` sees the narrowed error; `is` takes several reasons too), or
 * `GatewayError.catchReason("RequestTimeout", f)`, the counterpart of `Effect.catchTag`.
 *
 * Why one tag with reasons rather than a union of tagged errors: every operation can fail for most
 * of the reasons (a request can time out, lose its connection, be refused by the gateway or outlive
 * the client), so a union would spell the same dozen classes in every signature; one type keeps
 * signatures short, lets a `switch (error.reason)` be checked for exhaustiveness, and lets the
 * client add a reason without breaking a caller's error type. Effect's own platform errors make the
 * same choice (`SocketError`, `HttpClientError`: a tag and a `reason`).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"

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
}> {
  /**
   * A refinement that holds for a {@link GatewayError} with one of `reasons`, for `Effect.catchIf`,
   * `Effect.retry({ while })`, `Stream.catchSome` and the like.
   *
   * @example
   * client.ping.pipe(Effect.catchIf(GatewayError.is("RequestTimeout"), () => Effect.succeed({ latencyMs: -1 })))
   *
   * @since 0.2.0
   * @category guards
   */
  static is<const Reasons extends ReadonlyArray<GatewayErrorReason>>(
    ...reasons: Reasons
  ): (u: unknown) => u is GatewayErrorOf<Reasons[number]> {
    return (u): u is GatewayErrorOf<Reasons[number]> =>
      u instanceof GatewayError && (reasons as ReadonlyArray<GatewayErrorReason>).includes(u.reason)
  }

  /**
   * Recovers from a {@link GatewayError} with `reason`, as `Effect.catchTag` does for a tag; any
   * other failure passes through unchanged.
   *
   * @example
   * client.joinSession(id).pipe(GatewayError.catchReason("ServerError", (e) => Effect.fail(new NotFound({ code: e.code }))))
   *
   * @since 0.2.0
   * @category error handling
   */
  static readonly catchReason: {
    <K extends GatewayErrorReason, A2, E2, R2>(
      reason: K,
      f: (error: GatewayErrorOf<K>) => Effect.Effect<A2, E2, R2>
    ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E | E2, R | R2>
    <A, E, R, K extends GatewayErrorReason, A2, E2, R2>(
      self: Effect.Effect<A, E, R>,
      reason: K,
      f: (error: GatewayErrorOf<K>) => Effect.Effect<A2, E2, R2>
    ): Effect.Effect<A | A2, E | E2, R | R2>
  } = dual(
    3,
    <A, E, R, K extends GatewayErrorReason, A2, E2, R2>(
      self: Effect.Effect<A, E, R>,
      reason: K,
      f: (error: GatewayErrorOf<K>) => Effect.Effect<A2, E2, R2>
    ): Effect.Effect<A | A2, E | E2, R | R2> =>
      Effect.catchIf(self, GatewayError.is(reason) as (e: E) => e is E & GatewayErrorOf<K>, f)
  )
}

/**
 * A {@link GatewayError} known to have one of the reasons `R`.
 *
 * @since 0.2.0
 * @category models
 */
export type GatewayErrorOf<R extends GatewayErrorReason> = GatewayError & { readonly reason: R }

/**
 * @since 0.1.0
 * @category guards
 */
export const isGatewayError = (u: unknown): u is GatewayError => u instanceof GatewayError

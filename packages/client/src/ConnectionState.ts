/**
 * Where the client's connection stands. Users read and watch it through
 * `GatewayClient.state` (a `Subscribable`); only the client changes it.
 *
 * @since 0.2.0
 */
import type { Shapes } from "@diminuendo/protocol"
import * as Data from "effect/Data"

/**
 * What the gateway said about itself in its `welcome`. Fields the seeds do not fix are `undefined`
 * when a gateway leaves them out.
 *
 * @since 0.2.0
 * @category models
 */
export interface GatewayInfo {
  readonly serverVersion: string | undefined
  readonly protocolVersion: number | undefined
  /** `undefined` when the welcome does not say. */
  readonly requiresAuth: boolean | undefined
  /** Optional protocol features the gateway offers (`"requestId"`); empty when it names none. */
  readonly features: ReadonlyArray<string>
  readonly heartbeatIntervalMs: number | undefined
}

/**
 * The protocol versions (`welcome.protocolVersion`) this client speaks.
 *
 * @since 0.2.0
 * @category constants
 */
export const supportedProtocolVersions: ReadonlyArray<number> = [1]

/**
 * - `Connecting`: opening a socket and handshaking (`attempt` counts from 1 after each drop).
 * - `Connected`: authenticated; `connectionId` is the gateway's (from `connected`), or
 *   `connection-N` when it sends none.
 * - `Reconnecting`: waiting `delayMs` before the next attempt, after `reason`.
 * - `Closed`: for good (the client's scope closed, reconnecting is off or gave up, or the gateway
 *   refused the credentials).
 *
 * @since 0.2.0
 * @category models
 */
export type ConnectionState = Data.TaggedEnum<{
  Connecting: { readonly attempt: number }
  Connected: {
    readonly connectionId: string
    /** Who the connection is signed in as; `undefined` in dev mode until the gateway says (if ever). */
    readonly identity: Shapes.Identity | undefined
    readonly gateway: GatewayInfo
  }
  Reconnecting: { readonly attempt: number; readonly delayMs: number; readonly reason: string }
  Closed: { readonly reason: string }
}>

const { $is, $match, Closed, Connected, Connecting, Reconnecting } = Data.taggedEnum<ConnectionState>()

export {
  /**
   * A guard for one state: `ConnectionState.$is("Connected")(state)`.
   *
   * @since 0.2.0
   * @category guards
   */
  $is,
  /**
   * @since 0.2.0
   * @category pattern matching
   */
  $match,
  /**
   * @since 0.2.0
   * @category constructors
   */
  Closed,
  /**
   * @since 0.2.0
   * @category constructors
   */
  Connected,
  /**
   * @since 0.2.0
   * @category constructors
   */
  Connecting,
  /**
   * @since 0.2.0
   * @category constructors
   */
  Reconnecting
}

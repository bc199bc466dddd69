/**
 * WebSocket close codes this protocol uses, by name. The 1xxx codes are RFC 6455's; the 4xxx codes
 * are this project's (design), chosen in the range RFC 6455 leaves to applications.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category constants
 */
export const CloseCode = {
  /** A clean close: the client closed, or the gateway shut down after `server_shutdown`. */
  Normal: 1000,
  /** No close frame: the connection was cut (reported by the local side, never sent). */
  Abnormal: 1006,
  /** A frame over the receiver's size limit. */
  MessageTooBig: 1009,
  /** The receiver hit a defect handling a frame; the sender should reconnect. */
  InternalError: 1011,
  /** The gateway is restarting (after `server_shutdown`). */
  ServiceRestart: 1012,
  /** The gateway's buffer towards this client is full: the client is not reading fast enough. */
  TryAgainLater: 1013,
  /** Client: no frame from the gateway within `silenceTimeout` (a half-open connection). */
  SilenceTimeout: 4000,
  /** Client: `maxMissedPongs` pings in a row went unanswered. */
  PongTimeout: 4001,
  /** Gateway: a connection did not authenticate within the gateway's time limit. */
  AuthenticationTimeout: 4003,
  /** Client (standard WebSocket transport): more frames held than its inbound limit; it cannot pause a socket. */
  InboundBacklogFull: 4008
} as const

/**
 * @since 0.2.0
 * @category models
 */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/**
 * What the client could not use, or had to do on its own, reported instead of failing a caller or
 * killing the connection: a frame that does not decode, an `error` it cannot attribute to a
 * request, a defect in its own frame handling.
 *
 * @since 0.2.0
 */
import type { ProtocolErrorReason } from "@diminuendo/protocol"

/**
 * - A {@link ProtocolErrorReason}: a frame the codec rejected (`InvalidJson`, `InvalidMessage`,
 *   `FrameTooLarge`, `UnknownType`, `UnsafeInteger`, ...), with the codec's message.
 * - `BinaryFrame`: a binary frame (the protocol sends text frames only).
 * - `UnattributedError`: an `error` event no pending request could be matched to with certainty
 *   (it is also delivered on `events`); no caller was failed for it.
 * - `HandlerDefect`: the client's own frame handling threw; the connection was dropped (1011) and
 *   is re-made.
 * - `SessionReset`: a session's log went backwards (a gateway failover restarted it); a `reset`
 *   item was delivered on the session's stream and the session joined again.
 * - `StaleEvent`: a session event at or before the last `seq` delivered that is not a known
 *   duplicate was dropped.
 *
 * @since 0.2.0
 * @category models
 */
export type DiagnosticReason =
  | ProtocolErrorReason
  | "BinaryFrame"
  | "UnattributedError"
  | "HandlerDefect"
  | "SessionReset"
  | "StaleEvent"

/**
 * @since 0.2.0
 * @category models
 */
export interface Diagnostic {
  readonly reason: DiagnosticReason
  readonly message: string
  /** The start of the offending frame (at most 200 characters). */
  readonly excerpt: string
}

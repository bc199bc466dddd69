/**
 * The byte pipe under the client: something that opens a connection to a URL and moves text frames
 * both ways. The client never touches a socket directly, so a desktop app can plug in an IPC bridge
 * and tests an in-memory gateway.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

/**
 * The largest batch a transport hands to `run`'s handler at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBatch = 512

/**
 * How a connection ended. `code` is the WebSocket close code; 1006 means it was cut without a close
 * frame (abrupt).
 *
 * @since 0.1.0
 * @category models
 */
export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "OpenFailed" | "OpenTimeout" | "WriteFailed" | "Closed"
  readonly message: string
  readonly status?: number
  readonly cause?: unknown
}> {}

/**
 * Receives a connection's frames. It runs synchronously (on a socket, from the socket's callback,
 * so a reply meets its caller without a hop through another fiber) and returns `undefined`, or an
 * Effect for work that must finish before the next frames are handed over.
 *
 * @since 0.1.0
 * @category models
 */
export type FrameHandler = (frames: ReadonlyArray<string>) => Effect.Effect<void> | undefined

/**
 * One open connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** Sends one text frame. Fails with `Closed` once the connection is closed. */
  readonly send: (frame: string) => Effect.Effect<void, TransportError>
  /**
   * Hands incoming text frames to `handler`, in order, as they arrive (batched where several are
   * waiting). Frames that arrived before `run` are handed over first. While an Effect the handler
   * returned runs, further frames are held (and the socket paused, where it can be), so
   * backpressure reaches the socket. Completes with how the connection closed, after every frame
   * received before the close was handed over. Call it once per connection.
   */
  readonly run: (handler: FrameHandler) => Effect.Effect<CloseInfo>
  /** Closes with a close code and reason (a clean close). */
  readonly close: (code: number, reason: string) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenRequest {
  readonly url: string
  /** Sent as the `Authorization: Bearer` header where the transport supports headers. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Frames larger than this are refused by the transport (where it supports a limit). */
  readonly maxMessageBytes: number
}

/**
 * Opens connections. Closing the scope passed to `open` closes the connection.
 *
 * @since 0.1.0
 * @category tags
 */
export class Transport extends Context.Tag("@diminuendo/client/Transport")<
  Transport,
  {
    readonly open: (request: OpenRequest) => Effect.Effect<Connection, TransportError, Scope.Scope>
  }
>() {}

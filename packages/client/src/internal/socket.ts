/**
 * What the two socket transports share.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Transport from "../Transport.js"

/** The state of an open socket, in the `ws` library and in the standard API alike. */
export const OPEN = 1
export const CLOSED = 3

/** The error for a socket that closes before it opened. */
export const closedDuringHandshake = (url: string, code: number): Transport.TransportError =>
  new Transport.TransportError({ reason: "OpenFailed", message: `${url} closed during the handshake (${code})` })

/**
 * `Connection.send` over a socket: writes at once, without waiting for the write to complete (a
 * failed write surfaces as the socket's close).
 */
export const send =
  (socketOf: () => Writable | undefined) =>
  (frame: string): Effect.Effect<void, Transport.TransportError> =>
    Effect.suspend(() =>
      sendNow(socketOf)(frame)
        ? Effect.void
        : Effect.fail(new Transport.TransportError({ reason: "Closed", message: "the socket is not open" }))
    )

/** `Transport.ConnectionOptions.sendNow` over a socket: writes at once; `false` when it is not open. */
export const sendNow =
  (socketOf: () => Writable | undefined) =>
  (frame: string): boolean => {
    const socket = socketOf()
    if (socket === undefined || socket.readyState !== OPEN) return false
    socket.send(frame)
    return true
  }

interface Writable {
  readonly readyState: number
  send(frame: string): void
}

/**
 * `Effect.acquireRelease` for a socket, whose release needs none of the acquiring fiber's
 * `FiberRef`s: `Effect.addFinalizer` keeps a copy of them per finalizer (a map of every `FiberRef`,
 * ~1.4 KB per connection, bench/ANALYSIS.md).
 */
export const acquireRelease = <A, E>(
  acquire: Effect.Effect<A, E>,
  release: (a: A) => Effect.Effect<void>
): Effect.Effect<A, E, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptible(Effect.tap(acquire, (a) => Scope.addFinalizer(scope, release(a))))
  )

/**
 * Settles an `Effect.async` registration once, then lets go of its callback: the socket's listeners
 * outlive the open, and the callback holds the fiber that opened it.
 */
export const once =
  <A>(resume: ((effect: A) => void) | undefined) =>
  (effect: A) => {
    const r = resume
    resume = undefined
    r?.(effect)
  }

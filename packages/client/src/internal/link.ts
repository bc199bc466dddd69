/**
 * One live connection as the client's modules share it: the transport's connection, what the
 * gateway said in its handshake, and the counters the keepalive reads.
 *
 * @internal
 */
import type { ServerEvent } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import type * as Transport from "../Transport.js"

export interface Link {
  /** Counts connections; requests remember the one they were sent on. */
  readonly epoch: number
  readonly connection: Transport.Connection
  /** The first `welcome` of the connection, once it came. */
  welcome: ServerEvent.Welcome | undefined
  /** The first `authenticated` that no request asked for (dev mode), once it came. */
  unprompted: ServerEvent.Authenticated | undefined
  /** Set while the handshake waits for one of the two above. */
  wake: (() => void) | undefined
  /** The gateway echoes `requestId` (it offered the feature). */
  requestIds: boolean
  /** From the gateway's `connected` event. */
  connectionId: string | undefined
  /** Frames received so far; the keepalive watches it move. */
  frames: number
  /** The `ts` of the keepalive ping still waiting for its `pong`, if any. */
  pingTs: number | undefined
  /** Set by `server_shutdown`: reconnect after this delay. */
  shutdownDelayMs: number | undefined
}

export const make = (epoch: number, connection: Transport.Connection): Link => ({
  epoch,
  connection,
  welcome: undefined,
  unprompted: undefined,
  wake: undefined,
  requestIds: false,
  connectionId: undefined,
  frames: 0,
  pingTs: undefined,
  shutdownDelayMs: undefined
})

/** Notes what the handshake may be waiting for (plain fields, not a `Deferred` per connection). */
export const notify = (link: Link) => {
  const wake = link.wake
  if (wake !== undefined) {
    link.wake = undefined
    wake()
  }
}

/** Waits until `read` finds what it looks for on `link` (one waiter at a time: the handshake). */
export const until = <A>(link: Link, read: (link: Link) => A | undefined): Effect.Effect<A> => {
  const next = Effect.async<void>((resume) => {
    link.wake = () => resume(Effect.void)
    return Effect.sync(() => {
      link.wake = undefined
    })
  })
  const loop: Effect.Effect<A> = Effect.suspend(() => {
    const found = read(link)
    return found !== undefined ? Effect.succeed(found) : Effect.zipRight(next, loop)
  })
  return loop
}

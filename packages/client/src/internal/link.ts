/**
 * One live connection as the client's modules share it: the transport's connection, what the
 * gateway said in its handshake, and the counters the keepalive reads.
 *
 * @internal
 */
import type { ServerEvent } from "@diminuendo/protocol"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Transport from "../Transport.js"

export interface Link {
  /** Counts connections; requests remember the one they were sent on. */
  readonly epoch: number
  readonly connection: Transport.Connection
  /** The first `welcome` of the connection. */
  readonly welcome: Deferred.Deferred<ServerEvent.Welcome>
  /** An `authenticated` that no request asked for: dev mode. */
  readonly unprompted: Deferred.Deferred<ServerEvent.Authenticated>
  /** The gateway echoes `requestId` (it offered the feature). */
  requestIds: boolean
  welcomed: boolean
  /** From the gateway's `connected` event. */
  connectionId: string | undefined
  /** Frames received so far; the keepalive watches it move. */
  frames: number
  /** The `ts` of the keepalive ping still waiting for its `pong`, if any. */
  pingTs: number | undefined
  /** Set by `server_shutdown`: reconnect after this delay. */
  shutdownDelayMs: number | undefined
}

export const make = (epoch: number, connection: Transport.Connection): Effect.Effect<Link> =>
  Effect.map(
    Effect.zip(Deferred.make<ServerEvent.Welcome>(), Deferred.make<ServerEvent.Authenticated>()),
    ([welcome, unprompted]) => ({
      epoch,
      connection,
      welcome,
      unprompted,
      requestIds: false,
      welcomed: false,
      connectionId: undefined,
      frames: 0,
      pingTs: undefined,
      shutdownDelayMs: undefined
    })
  )

/**
 * One client connection on the testkit gateway: its outbound queue and the writer that drains it
 * through the fault transform, the handshake it is greeted with, its heartbeat, and the
 * `ConnectionControl` a test holds.
 *
 * @internal
 */
import {
  ClientMessage,
  CloseCode,
  type Codec,
  ErrorCode,
  type ProtocolError,
  type ServerEvent,
  type Shapes
} from "@diminuendo/protocol"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Faults from "../Faults.js"
import type { ConnectionControl, Peer } from "../Gateway.js"

/** An instruction in the outbound queue: close once everything before it is written. */
export interface CloseAfter {
  readonly closeAfter: { readonly code: number; readonly reason: string }
}

type Item = Faults.Outgoing | CloseAfter

export interface Conn {
  readonly id: string
  /** `null` until authenticated (in dev mode, the dev identity from the start). */
  identity: Shapes.Identity | null
  readonly joined: Set<string>
  readonly outbound: Queue.Queue<Item>
  /** Completed when the connection must be closed at once, from a place that cannot run an Effect. */
  readonly kill: Deferred.Deferred<{ readonly code: number; readonly reason: string }>
  /** Completed once the writer has closed the connection. */
  readonly done: Deferred.Deferred<void>
  readonly faults: Faults.FaultState
  readonly peer: Peer
  closed: boolean
  /** Bytes in `outbound`. */
  queuedBytes: number
  /** Past this many bytes queued here and buffered in the socket, the connection is closed (1013). */
  readonly maxBytes: number
}

export const make = (
  id: string,
  peer: Peer,
  identity: Shapes.Identity | null,
  bounds: { readonly frames: number; readonly bytes: number }
) =>
  Effect.map(
    Effect.all([
      Queue.dropping<Item>(bounds.frames),
      Deferred.make<{ readonly code: number; readonly reason: string }>(),
      Deferred.make<void>()
    ]),
    ([outbound, kill, done]): Conn => ({
      id,
      identity,
      joined: new Set(),
      outbound,
      kill,
      done,
      faults: Faults.makeState(),
      peer,
      closed: false,
      queuedBytes: 0,
      maxBytes: bounds.bytes
    })
  )

/**
 * Queues a frame. A connection with more than its bound waiting to go out (in frames here, or in
 * bytes here and in its socket) does not read fast enough: it is closed with 1013.
 */
export const enqueue = (conn: Conn, item: Faults.Outgoing) => {
  if (conn.closed) return
  const bytes = item.frame.length
  if (conn.queuedBytes + (conn.peer.buffered?.() ?? 0) + bytes > conn.maxBytes || !conn.outbound.unsafeOffer(item)) {
    conn.closed = true
    Deferred.unsafeDone(conn.kill, Exit.succeed({ code: CloseCode.TryAgainLater, reason: "outbound buffer full" }))
    return
  }
  conn.queuedBytes += bytes
}

/**
 * Sends an event the gateway built itself. Those are valid by construction (the tests hold every
 * reply to the Schemas); one that is not is a bug in this gateway: it is not sent, and the error is
 * returned for the caller to log.
 */
export const send = (
  codec: Codec.GatewayCodec,
  conn: Conn,
  event: ServerEvent.ServerEvent
): ProtocolError | undefined => {
  const encoded = codec.encode(event)
  if (Either.isLeft(encoded)) return encoded.left
  enqueue(conn, { frame: encoded.right, type: event.type, sessionEvent: false })
  return undefined
}

/** {@link send}, logging an event the gateway could not encode. */
export const sendLogged = (codec: Codec.GatewayCodec, conn: Conn, event: ServerEvent.ServerEvent) =>
  Effect.suspend(() => logInvalid(send(codec, conn, event)))

export const logInvalid = (error: ProtocolError | undefined): Effect.Effect<void> =>
  error === undefined ? Effect.void : Effect.logError("testkit gateway built an invalid event", error.message)

/** Closes the connection after what is queued now has been written; waits for it. */
export const closeAfterQueued = (conn: Conn, code: number, reason: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!conn.closed && !conn.outbound.unsafeOffer({ closeAfter: { code, reason } })) {
      Deferred.unsafeDone(conn.kill, Exit.succeed({ code, reason }))
    }
    conn.closed = true
    return Deferred.await(conn.done)
  })

/** Drains the outbound queue through the fault transform until the connection is closed. */
export const writer = (conn: Conn, gatewayFaults: Faults.FaultState): Effect.Effect<void> => {
  const plan = Faults.transform(conn.faults, gatewayFaults)
  const close = (code: number, reason: string) =>
    Effect.zipRight(conn.peer.close(code, reason), Deferred.succeed(conn.done, undefined))
  const write = (item: Item): Effect.Effect<boolean> => {
    if ("closeAfter" in item) return Effect.as(close(item.closeAfter.code, item.closeAfter.reason), false)
    conn.queuedBytes -= item.frame.length
    const { delayMs, frames } = plan(item)
    const sends = Effect.as(
      Effect.forEach(frames, (o) => conn.peer.write(o.frame), { discard: true }),
      true
    )
    return delayMs === undefined ? sends : Effect.zipRight(Effect.sleep(delayMs), sends)
  }
  const loop: Effect.Effect<void> = Effect.flatMap(Queue.take(conn.outbound), (item) =>
    Effect.flatMap(write(item), (more) => (more ? loop : Effect.void))
  )
  const killed = Effect.flatMap(Deferred.await(conn.kill), ({ code, reason }) => close(code, reason))
  return Effect.raceFirst(loop, killed)
}

/** Sends a `heartbeat` every `intervalMs` (Effect Clock), forked into the connection's scope. */
export const heartbeat = (
  codec: Codec.GatewayCodec,
  conn: Conn,
  intervalMs: number,
  now: Effect.Effect<number>
): Effect.Effect<void, never, Scope.Scope> =>
  intervalMs <= 0
    ? Effect.void
    : Effect.asVoid(
        Effect.forkScoped(
          Effect.flatMap(now, (ts) => sendLogged(codec, conn, { type: "heartbeat", ts })).pipe(
            Effect.repeat(Schedule.spaced(intervalMs)),
            Effect.delay(intervalMs)
          )
        )
      )

/** The `error` a client gets for a frame the codec rejected. */
export const rejection = (error: ProtocolError): ServerEvent.ErrorEvent => ({
  type: "error",
  code: ErrorCode.fromProtocolError(error),
  message: error.message,
  // Only a type the gateway knows is named back: a frame's own `type` may be any (long) string.
  ...(error.messageType !== undefined && knownTypes.has(error.messageType) ? { requestType: error.messageType } : {})
})

const knownTypes: ReadonlySet<string> = new Set(ClientMessage.types)

/** A test's handle on the connection. */
export const control = (codec: Codec.GatewayCodec, conn: Conn): ConnectionControl => ({
  id: conn.id,
  identity: () => conn.identity,
  joined: () => [...conn.joined],
  faults: Faults.handle(conn.faults),
  drop: (code, reason) =>
    Effect.suspend(() => {
      conn.closed = true
      return conn.peer.close(code, reason)
    }),
  sendRaw: (frame) => conn.peer.write(frame),
  send: (event) =>
    Either.match(codec.encode(event), {
      onLeft: (error) => Effect.fail(error),
      onRight: (frame) => Effect.sync(() => enqueue(conn, { frame, type: event.type, sessionEvent: false }))
    }),
  sendShutdown: (reason, reconnectAfterMs) =>
    sendLogged(codec, conn, {
      type: "server_shutdown",
      reason,
      ...(reconnectAfterMs === undefined ? {} : { reconnectAfterMs })
    })
})

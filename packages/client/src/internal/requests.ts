/**
 * Requests in flight: sending or parking them, where a reply meets its request ({@link Requests.match}),
 * the deadline sweep, and what happens to them when their connection goes (orphaned, parked, re-sent).
 *
 * @internal
 */
import { type ClientMessage, type Codec, Correlation, type ProtocolError, type ServerEvent } from "@diminuendo/protocol"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { GatewayError } from "../GatewayError.js"
import * as Transport from "../Transport.js"
import type { Link } from "./link.js"
import type { Timed } from "./timers.js"
import { traced } from "./tracing.js"

type Outcome = Exit.Exit<ServerEvent.ServerEvent, GatewayError>

interface Pending {
  readonly key: number
  /** As sent (with the `requestId` of the connection it was sent on). */
  message: ClientMessage.ClientMessage
  /** The waiting caller, once it waits; until then a settlement is kept in `outcome`. */
  resume: ((exit: Outcome) => void) | undefined
  outcome: Outcome | undefined
  /** The connection it was sent on; -1 while parked (not sent yet, or to be re-sent). */
  epoch: number
  /** Clock millis after which it fails with `RequestTimeout`. */
  readonly deadline: number
}

export interface Requests {
  /**
   * Sends `message` on `link()` (asked each time the Effect runs: a retried or repeated request goes
   * out on the connection of its run) and waits for the event that settles it (a reply, the session
   * event confirming it, or an `error`). Without a link the request is parked and sent by `resend`
   * once a connection is up. Interrupting the wait withdraws the request.
   */
  readonly exchange: (
    message: ClientMessage.ClientMessage,
    link: () => Link | undefined,
    deadline?: number
  ) => Effect.Effect<ServerEvent.ServerEvent, GatewayError>
  /** Settles the request `event` answers, if one waits for it; false otherwise. */
  readonly settle: (link: Link, event: ServerEvent.ServerEvent) => boolean
  /** `message` with this connection's correlation id, when the gateway echoes them. */
  readonly withRequestId: (link: Link, message: ClientMessage.ClientMessage) => ClientMessage.ClientMessage
  /** The connection `epoch` is gone: park what may be sent again, fail the rest with `ConnectionLost`. */
  readonly orphan: (epoch: number, reason: string, reconnecting: boolean) => void
  /** Sends the parked requests on `link` (those `which` accepts; the rest stay parked). */
  readonly resend: (link: Link, which?: (message: ClientMessage.ClientMessage) => boolean) => Effect.Effect<void>
  /** Fails every request (the client is closing or gave up). */
  readonly failAll: (reason: "NotConnected" | "Closed", message: string) => void
  readonly size: () => number
  /** The deadlines, for the client's timers. */
  readonly tick: Timed
}

const serverError = (event: ServerEvent.ErrorEvent, requestType: string) =>
  new GatewayError({
    reason: event.code === "AUTH_FAILED" ? "AuthFailed" : "ServerError",
    message: `${event.code}: ${event.message}`,
    code: event.code,
    requestType
  })

/**
 * A copy of `message` with one more field (a loop is cheaper than an object spread here, on the
 * path of every request).
 */
const withField = <A extends object>(message: A, key: string, value: unknown): A => {
  const out: Record<string, unknown> = {}
  for (const k in message) out[k] = message[k]
  out[key] = value
  return out as A
}

const withoutRequestId = (message: ClientMessage.ClientMessage): ClientMessage.ClientMessage => {
  const out: Record<string, unknown> = {}
  for (const k in message) if (k !== "requestId") out[k] = message[k as keyof typeof message]
  return out as unknown as ClientMessage.ClientMessage
}

export const make = (options: {
  readonly codec: Codec.ClientCodec
  readonly clock: Clock.Clock
  readonly timeoutMs: number
  /** The client is closed: new requests fail at once. */
  readonly isClosing: () => boolean
  /** Wakes the client's timers (a deadline now exists). */
  readonly wake: () => void
}): Requests => {
  const { clock, codec, timeoutMs } = options
  const pending = new Map<number, Pending>()
  /** By the `requestId` this client gave them (never `answer_question`'s, a question's id). */
  const byRequestId = new Map<string, Pending>()
  const clientId = Math.random().toString(36).slice(2, 8)
  let keyCounter = 0

  const track = (p: Pending) => {
    pending.set(p.key, p)
    // The timers wait without ticking while nothing is due: a deadline wakes them.
    if (p.deadline !== Number.POSITIVE_INFINITY) options.wake()
    const id = Correlation.correlationIdOf(p.message)
    if (id !== undefined) byRequestId.set(id, p)
  }
  const forget = (p: Pending) => {
    pending.delete(p.key)
    const id = Correlation.correlationIdOf(p.message)
    if (id !== undefined && byRequestId.get(id) === p) byRequestId.delete(id)
  }

  /** Removes a request and hands its outcome to the caller. */
  const complete = (p: Pending, exit: Outcome) => {
    forget(p)
    if (p.resume !== undefined) p.resume(exit)
    else p.outcome = exit
  }

  /** Waits for `p` to be settled; interrupting the wait withdraws the request. */
  const outcomeOf = (p: Pending) =>
    Effect.async<ServerEvent.ServerEvent, GatewayError>((resume) => {
      if (p.outcome !== undefined) return resume(p.outcome)
      p.resume = resume
      return Effect.sync(() => forget(p))
    })

  /**
   * The deadlines, ticked by the client's timers. Deadlines only grow (each is the call's time plus
   * the same timeout), so a request made between two ticks is never due before the next.
   */
  const tick: Timed = (now) => {
    let next = Number.POSITIVE_INFINITY
    for (const p of [...pending.values()]) {
      if (p.deadline > now) {
        if (p.deadline < next) next = p.deadline
        continue
      }
      const type = p.message.type
      complete(
        p,
        Exit.fail(
          new GatewayError({ reason: "RequestTimeout", message: `Request timeout for ${type}`, requestType: type })
        )
      )
    }
    return { next }
  }

  const rejected = (message: ClientMessage.ClientMessage, cause: ProtocolError) =>
    new GatewayError({ reason: "ProtocolError", message: cause.message, requestType: message.type, cause })

  const withRequestId = (link: Link, message: ClientMessage.ClientMessage): ClientMessage.ClientMessage =>
    link.requestIds && Correlation.hasCorrelationId(message.type)
      ? withField(message, "requestId", `${clientId}-${++keyCounter}`)
      : message

  /** A new entry for `message` and its frame, or why it cannot go: the client is closed, the Schema rejects it. */
  const prepare = (
    message: ClientMessage.ClientMessage,
    link: Link | undefined,
    deadline: number | undefined
  ): { readonly entry: Pending; readonly frame: string } | GatewayError => {
    if (options.isClosing()) {
      return new GatewayError({ reason: "NotConnected", message: "the client is closed", requestType: message.type })
    }
    const wire = link === undefined ? message : withRequestId(link, message)
    // Encoding validates: a message the Schema rejects fails now, before anything is sent.
    const encoded = codec.encode(wire)
    if (Either.isLeft(encoded)) return rejected(message, encoded.left)
    const entry: Pending = {
      key: ++keyCounter,
      message: wire,
      resume: undefined,
      outcome: undefined,
      epoch: link === undefined ? -1 : link.epoch,
      deadline: deadline ?? clock.unsafeCurrentTimeMillis() + timeoutMs
    }
    return { entry, frame: encoded.right }
  }

  const exchange: Requests["exchange"] = (message, linkOf, deadline) =>
    Effect.suspend(() => {
      const link = linkOf()
      const sendNow = link === undefined ? undefined : Transport.senderOf(link.connection)
      if (sendNow !== undefined) {
        // One Effect: the frame is written where the wait for its reply begins.
        return Effect.async<ServerEvent.ServerEvent, GatewayError>((resume) => {
          const prepared = prepare(message, link, deadline)
          if (prepared instanceof GatewayError) return resume(Effect.fail(prepared))
          const { entry } = prepared
          entry.resume = resume
          track(entry)
          // A failed write means the connection is going: the loss handling settles the entry.
          sendNow(prepared.frame)
          return Effect.sync(() => forget(entry))
        })
      }
      const prepared = prepare(message, link, deadline)
      if (prepared instanceof GatewayError) return Effect.fail(prepared)
      track(prepared.entry)
      const wait = outcomeOf(prepared.entry)
      if (link === undefined) return wait
      // A failed write means the connection is going: the loss handling settles the entry.
      return Effect.zipRight(Effect.ignore(link.connection.send(prepared.frame)), wait)
    }).pipe((self) => traced(self, message))

  /** Where a reply meets its request: `requestId` first, then type and key fields, oldest first. */
  const match = (link: Link, event: ServerEvent.ServerEvent): Pending | undefined => {
    const id = Correlation.requestIdOf(event)
    if (link.requestIds && id !== undefined) {
      const p = byRequestId.get(id)
      if (p !== undefined && p.epoch === link.epoch) return p
    }
    const isError = event.type === "error"
    let candidate: Pending | undefined
    let candidates = 0
    for (const p of pending.values()) {
      if (p.epoch !== link.epoch) continue
      const message = p.message
      if (isError) {
        if (id !== undefined) {
          // An error carrying an id answers the request with that id: only `answer_question`'s
          // (its id is the question's) is not in `byRequestId`.
          if (message.type === "answer_question" && message.requestId === id) return p
          if (link.requestIds) continue
        }
        if (Correlation.errorMatches(message, event)) {
          candidates += 1
          candidate ??= p
        }
        continue
      }
      if (Correlation.isConfirmed(message.type)) {
        if (Correlation.confirms(message, event)) return p
        continue
      }
      if (link.requestIds && id !== undefined) continue
      if (Correlation.matches(message, event)) return p
    }
    // An error that names nothing (no id, type or session). A gateway that echoes ids and still
    // sends one could not read the frame it answers, so it may belong to any request: it is taken
    // only when a single one waits. A gateway without ids (the seeds') answers in order: the oldest.
    if (
      isError &&
      link.requestIds &&
      candidates > 1 &&
      !Correlation.errorIsAttributed(event as ServerEvent.ErrorEvent)
    ) {
      return undefined
    }
    return candidate
  }

  return {
    exchange,
    tick,
    withRequestId,
    size: () => pending.size,
    settle: (link, event) => {
      if (pending.size === 0) return false
      const p = match(link, event)
      if (p === undefined) return false
      complete(p, event.type === "error" ? Exit.fail(serverError(event, p.message.type)) : Exit.succeed(event))
      return true
    },
    orphan: (epoch, reason, reconnecting) => {
      for (const p of [...pending.values()]) {
        if (p.epoch !== epoch) continue
        if (reconnecting && Correlation.idempotentTypes.has(p.message.type)) {
          p.epoch = -1
          continue
        }
        complete(
          p,
          Exit.fail(
            new GatewayError({
              reason: "ConnectionLost",
              message: `the connection was lost (${reason}) after ${p.message.type} was sent; whether the gateway acted on it is unknown`,
              requestType: p.message.type
            })
          )
        )
      }
    },
    resend: (link, which) =>
      Effect.suspend(() => {
        const sends: Array<Effect.Effect<void>> = []
        for (const p of [...pending.values()]) {
          if (p.epoch !== -1 || (which !== undefined && !which(p.message))) continue
          forget(p)
          p.epoch = link.epoch
          // A fresh requestId for this connection (`answer_question`'s is the question's: kept).
          const bare = Correlation.correlationIdOf(p.message) === undefined ? p.message : withoutRequestId(p.message)
          p.message = withRequestId(link, bare)
          track(p)
          const encoded = codec.encode(p.message)
          if (Either.isLeft(encoded)) complete(p, Exit.fail(rejected(p.message, encoded.left)))
          else sends.push(Effect.ignore(link.connection.send(encoded.right)))
        }
        return Effect.all(sends, { discard: true })
      }),
    failAll: (reason, message) => {
      for (const p of [...pending.values()]) {
        complete(p, Exit.fail(new GatewayError({ reason, message, requestType: p.message.type })))
      }
    }
  }
}

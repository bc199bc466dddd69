/**
 * The Diminuendo gateway client: one connection, as a scoped service.
 *
 * - Requests are Effects that succeed with the typed reply and fail with {@link GatewayError}. A
 *   reply meets its request in `matchReply` below: by `requestId` when the gateway advertises the
 *   feature, otherwise by `Correlation.matches` (type and key fields), oldest request first.
 * - Events are Streams: every event, events of one type, one session's events (exactly once, in
 *   `seq` order, or an explicit gap), and a turn's events.
 * - Reconnect policy (`reconnectLoop` below): after a drop, wait per `reconnectSchedule`, reconnect,
 *   authenticate with a fresh token, re-join every joined session with `afterSeq` = the last `seq`
 *   delivered. Idempotent requests in flight are re-sent; the others fail with `ConnectionLost`.
 *
 * @since 0.1.0
 */
import {
  type ClientMessage,
  Codec,
  Correlation,
  type ProtocolError,
  ServerEvent,
  type Shapes
} from "@diminuendo/protocol"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Tracer from "effect/Tracer"
import { GatewayError } from "./GatewayError.js"
import * as Broadcast from "./internal/broadcast.js"
import * as Sequencer from "./internal/sequencer.js"
import * as Transport from "./Transport.js"

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface GatewayClientOptions {
  /** The gateway's WebSocket URL. */
  readonly url: string
  /**
   * A token, or an Effect that yields a fresh one for each connection attempt. None: dev mode
   * (connecting fails with `AuthRequired` if the gateway requires auth).
   */
  readonly token?: Redacted.Redacted<string> | Effect.Effect<Redacted.Redacted<string>, GatewayError> | undefined
  /** @default true */
  readonly autoReconnect?: boolean
  /**
   * Delays between reconnect attempts. @default exponential from 250 ms, factor 2, jittered,
   * capped at 30 s, unlimited attempts
   */
  readonly reconnectSchedule?: Schedule.Schedule<unknown, unknown>
  /** @default 10 seconds */
  readonly requestTimeout?: Duration.DurationInput
  /** Opening the socket and the handshake (welcome, authentication). @default 10 seconds */
  readonly connectTimeout?: Duration.DurationInput
  /** Keepalive `ping` interval; 0 disables. @default 30 seconds */
  readonly pingInterval?: Duration.DurationInput
  /** A connection with no frame for this long is dead (half-open) and is dropped; 0 disables. @default 75 seconds */
  readonly silenceTimeout?: Duration.DurationInput
  /** Largest frame accepted or sent. @default 16 MiB */
  readonly maxMessageBytes?: number
  /** Per-subscriber event buffer; a subscriber further behind fails with `SlowConsumer`. @default 4096 */
  readonly eventBuffer?: number
  /** Out-of-order session events held while waiting for a missing `seq` before it counts as a gap. @default 64 */
  readonly reorderWindow?: number
}

/**
 * The default reconnect schedule: 250 ms, 500 ms, 1 s, ... jittered, at most 30 s apart.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultReconnectSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("250 millis", 2).pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("30 seconds"))
)

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export type ConnectionState =
  | { readonly _tag: "Connecting"; readonly attempt: number }
  | { readonly _tag: "Connected"; readonly connectionId: string; readonly identity: Shapes.Identity }
  | { readonly _tag: "Reconnecting"; readonly attempt: number; readonly delayMs: number; readonly reason: string }
  | { readonly _tag: "Closed"; readonly reason: string }

/**
 * A frame the client could not use, reported instead of killing the connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Diagnostic {
  readonly reason: string
  readonly message: string
  /** The start of the offending frame (at most 200 characters). */
  readonly excerpt: string
}

/**
 * What a session stream carries: the session's events, in `seq` order, each once, and gaps.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionItem = Sequencer.SessionItem

/**
 * @since 0.1.0
 * @category models
 */
export interface GatewayClient {
  /** The connection's state, current value first. */
  readonly state: SubscriptionRef.SubscriptionRef<ConnectionState>
  readonly identity: Effect.Effect<Option.Option<Shapes.Identity>>
  /** Every event, unknown ones included; session events deduplicated and in order. */
  readonly events: Stream.Stream<ServerEvent.ServerEvent, GatewayError>
  readonly eventsOf: <T extends ServerEvent.Type>(type: T) => Stream.Stream<ServerEvent.ByType<T>, GatewayError>
  /** One session's events and gaps. Only events of that session can appear. */
  readonly sessionEvents: (sessionId: string) => Stream.Stream<SessionItem, GatewayError>
  /** Frames that could not be decoded. */
  readonly diagnostics: Stream.Stream<Diagnostic, GatewayError>

  readonly listSessions: (includeArchived?: boolean) => Effect.Effect<ReadonlyArray<Shapes.SessionMeta>, GatewayError>
  readonly createSession: (agentType: string, name?: string) => Effect.Effect<Shapes.SessionMeta, GatewayError>
  readonly renameSession: (sessionId: string, name: string) => Effect.Effect<Shapes.SessionMeta, GatewayError>
  readonly archiveSession: (sessionId: string) => Effect.Effect<Shapes.SessionMeta, GatewayError>
  readonly unarchiveSession: (sessionId: string) => Effect.Effect<Shapes.SessionMeta, GatewayError>
  readonly deleteSession: (sessionId: string) => Effect.Effect<void, GatewayError>
  /** Joins (subscribes to) a session; `afterSeq` replays what followed it. Re-joined after every reconnect. */
  readonly joinSession: (sessionId: string, afterSeq?: number) => Effect.Effect<ServerEvent.StateSnapshot, GatewayError>
  readonly leaveSession: (sessionId: string) => Effect.Effect<void, GatewayError>
  /** Starts a turn (joining the session first if needed); succeeds with its `turn_started`. */
  readonly runTurn: (
    sessionId: string,
    text: string,
    clientTurnId?: string
  ) => Effect.Effect<ServerEvent.TurnStarted, GatewayError>
  /** Runs a turn and streams its session events, ending after `turn_complete`, failing on `turn_error`. */
  readonly turn: (sessionId: string, text: string) => Stream.Stream<SessionItem, GatewayError>
  readonly stopTurn: (sessionId: string) => Effect.Effect<ServerEvent.StopAcknowledged, GatewayError>
  readonly steer: (sessionId: string, content: string) => Effect.Effect<ServerEvent.SteerSent, GatewayError>
  readonly answerQuestion: (
    sessionId: string,
    requestId: string,
    answers: Readonly<Record<string, string>>,
    dismissed?: boolean
  ) => Effect.Effect<ServerEvent.ApprovalResolved, GatewayError>
  readonly getHistory: (
    sessionId: string,
    afterSeq?: number,
    limit?: number
  ) => Effect.Effect<ReadonlyArray<Shapes.HistoryMessage>, GatewayError>
  readonly getEvents: (
    sessionId: string,
    afterSeq?: number,
    limit?: number
  ) => Effect.Effect<ServerEvent.Events["events"], GatewayError>
  readonly ping: Effect.Effect<{ readonly latencyMs: number }, GatewayError>
  readonly listFiles: (
    sessionId: string,
    path?: string,
    depth?: number
  ) => Effect.Effect<ReadonlyArray<Shapes.FileEntry>, GatewayError>
  readonly readFile: (sessionId: string, path: string) => Effect.Effect<ServerEvent.FileContent, GatewayError>
  readonly fileHistory: (
    sessionId: string,
    path: string
  ) => Effect.Effect<ReadonlyArray<Shapes.FileVersion>, GatewayError>
  readonly fileAtIteration: (
    sessionId: string,
    path: string,
    iteration: number
  ) => Effect.Effect<ServerEvent.FileContent, GatewayError>
  readonly manageMembers: (
    action: "list" | "set_role" | "remove",
    userId?: string,
    role?: string
  ) => Effect.Effect<ServerEvent.MemberList | ServerEvent.MemberUpdated | ServerEvent.MemberRemoved, GatewayError>
  /** Re-authenticates on the live connection (no reconnect); the token is used for later reconnects too. */
  readonly refreshToken: (token?: Redacted.Redacted<string>) => Effect.Effect<Shapes.Identity, GatewayError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const GatewayClient = Context.GenericTag<GatewayClient>("@diminuendo/client/GatewayClient")

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/** Requests that can be sent again after a reconnect without changing anything. */
const idempotent: ReadonlySet<ClientMessage.Type> = new Set<ClientMessage.Type>([
  "list_sessions",
  "join_session",
  "get_history",
  "get_events",
  "ping",
  "list_files",
  "read_file",
  "file_history",
  "file_at_iteration"
])

interface Pending {
  readonly key: number
  message: ClientMessage.ClientMessage
  /** The waiting caller, once it waits; until then a settlement is kept in `outcome`. */
  resume: ((exit: Exit.Exit<ServerEvent.ServerEvent, GatewayError>) => void) | undefined
  outcome: Exit.Exit<ServerEvent.ServerEvent, GatewayError> | undefined
  /** The reply types that settle it (the request's replies, or its effect event). */
  readonly accepts: ReadonlyArray<string>
  /** Set for fire-and-forget requests confirmed by a session event. */
  readonly effect?: (event: ServerEvent.ServerEvent) => boolean
  /** The connection it was sent on; -1 while parked (not sent, or to be re-sent). */
  epoch: number
  /** Clock millis after which it fails with `RequestTimeout`. */
  readonly deadline: number
}

interface Live {
  readonly epoch: number
  readonly connection: Transport.Connection
  readonly welcome: Deferred.Deferred<ServerEvent.Welcome>
  /** `authenticated` that no request asked for: dev mode. */
  readonly unprompted: Deferred.Deferred<ServerEvent.Authenticated>
  requestIds: boolean
  welcomed: boolean
  /** From the gateway's `connected` event. */
  connectionId: string | undefined
  lastFrameAt: number
  /** A clock read for `lastFrameAt` is queued. */
  stamping: boolean
  nextPingAt: number
  /** The silence timeout has fired for this connection (it is being dropped). */
  silenced: boolean
  shutdownDelayMs: number | undefined
}

/**
 * A copy of `message` with one more field. (`{ ...message, [key]: value }` takes ~1.8 µs on Node 20,
 * more than the rest of a request's client-side work.)
 */
const withField = <A extends object>(message: A, key: string, value: unknown): A => {
  const out: Record<string, unknown> = {}
  for (const k in message) out[k] = message[k]
  out[key] = value
  return out as A
}

const excerpt = (frame: string) => (frame.length > 200 ? `${frame.slice(0, 200)}...` : frame)

const serverError = (event: ServerEvent.ErrorEvent, requestType: string) =>
  new GatewayError({
    reason: event.code === "AUTH_FAILED" ? "AuthFailed" : "ServerError",
    message: `${event.code}: ${event.message}`,
    code: event.code,
    requestType
  })

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * Runs a request in a span named after its type, as a child of the caller's span. Under Effect's
 * built-in tracer nothing can read a span that no code runs inside, and making one costs more than
 * a loopback round trip, so spans are made only when a tracer is installed (OpenTelemetry, DevTools,
 * `Effect.withTracer`).
 */
const traced = <A, E, R>(self: Effect.Effect<A, E, R>, message: ClientMessage.ClientMessage) =>
  Effect.tracerWith((tracer) =>
    tracer === nativeTracer
      ? self
      : Effect.useSpan(
          `GatewayClient.${message.type}`,
          {
            captureStackTrace: false,
            attributes: {
              "diminuendo.type": message.type,
              ...("sessionId" in message ? { "diminuendo.session_id": message.sessionId } : {})
            }
          },
          () => self
        )
  )

/**
 * Builds the client and connects (the first attempt's failure is this Effect's failure). Closing
 * the scope closes the socket with 1000, fails pending requests with `Closed`, ends every stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: GatewayClientOptions
): Effect.Effect<GatewayClient, GatewayError, Scope.Scope | Transport.Transport> =>
  Effect.gen(function* () {
    const transport = yield* Transport.Transport
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope
    const requestTimeoutMs = Duration.toMillis(Duration.decode(options.requestTimeout ?? "10 seconds"))
    const connectTimeout = Duration.decode(options.connectTimeout ?? "10 seconds")
    const pingInterval = Duration.decode(options.pingInterval ?? "30 seconds")
    const silenceTimeout = Duration.decode(options.silenceTimeout ?? "75 seconds")
    const maxMessageBytes = options.maxMessageBytes ?? Codec.defaultMaxFrameBytes
    const eventBuffer = options.eventBuffer ?? 4096
    const reorderWindow = options.reorderWindow ?? 64
    const schedule = options.reconnectSchedule ?? defaultReconnectSchedule
    const autoReconnect = options.autoReconnect ?? true
    const codec = Codec.makeClientCodec({ maxFrameBytes: maxMessageBytes })
    let token = options.token

    const state = yield* SubscriptionRef.make<ConnectionState>({ _tag: "Connecting", attempt: 1 })
    const events = Broadcast.make<ServerEvent.ServerEvent>()
    const diagnostics = Broadcast.make<Diagnostic>()
    const pending = new Map<number, Pending>()
    const joined = new Map<string, Sequencer.Sequencer>()
    let identity: Shapes.Identity | undefined
    let live: Live | undefined
    let liveScope: Scope.CloseableScope | undefined
    let connected = yield* Deferred.make<Live, GatewayError>()
    let closing = false
    let epochCounter = 0
    let keyCounter = 0
    const clientId = Math.random().toString(36).slice(2, 8)

    const setState = (next: ConnectionState) => SubscriptionRef.set(state, next)

    // ----- inbound -----------------------------------------------------------------------------

    const report = (reason: string, message: string, frame: string) => {
      diagnostics.publish({ reason, message, excerpt: excerpt(frame) })
      return Effect.logWarning("discarded a frame from the gateway").pipe(Effect.annotateLogs({ reason, message }))
    }

    /** Where a reply meets its request: `requestId` first, then type and key fields, oldest first. */
    const matchReply = (conn: Live, event: ServerEvent.ServerEvent): Pending | undefined => {
      // Most frames are streamed events with nothing waiting for them.
      if (pending.size === 0) return undefined
      const id = Correlation.requestIdOf(event)
      if (conn.requestIds && id !== undefined) {
        const p = byRequestId.get(id)
        if (p !== undefined && p.epoch === conn.epoch) return p
      }
      for (const p of pending.values()) {
        if (p.epoch !== conn.epoch) continue
        if (p.effect !== undefined) {
          if (p.effect(event)) return p
          if (
            event.type === "error" &&
            Correlation.matches(p.message, event) &&
            (!conn.requestIds || event.requestId === undefined)
          )
            return p
          continue
        }
        if (!p.accepts.includes(event.type) && event.type !== "error") continue
        if (conn.requestIds && id !== undefined) continue
        if (Correlation.matches(p.message, event)) return p
      }
      return undefined
    }

    /** Requests by the `requestId` this client gave them (not `answer_question`'s, a question's id). */
    const byRequestId = new Map<string, Pending>()
    const ownRequestId = (p: Pending) => (p.message.type === "answer_question" ? undefined : p.message.requestId)
    const track = (p: Pending) => {
      pending.set(p.key, p)
      const id = ownRequestId(p)
      if (id !== undefined) byRequestId.set(id, p)
    }
    const forget = (p: Pending) => {
      pending.delete(p.key)
      const id = ownRequestId(p)
      if (id !== undefined && byRequestId.get(id) === p) byRequestId.delete(id)
    }

    /** Removes a request and hands its outcome to the caller. */
    const complete = (p: Pending, exit: Exit.Exit<ServerEvent.ServerEvent, GatewayError>) => {
      forget(p)
      if (p.resume !== undefined) p.resume(exit)
      else p.outcome = exit
    }
    const settle = (p: Pending, event: ServerEvent.ServerEvent) =>
      complete(p, event.type === "error" ? Exit.fail(serverError(event, p.message.type)) : Exit.succeed(event))

    /** Waits for `p` to be settled; interrupting the wait withdraws the request. */
    const outcomeOf = (p: Pending) =>
      Effect.async<ServerEvent.ServerEvent, GatewayError>((resume) => {
        if (p.outcome !== undefined) return resume(p.outcome)
        p.resume = resume
        return Effect.sync(() => forget(p))
      })

    /** One fan-out per session, so a session's subscribers see only its items (no filtering of all). */
    const perSession = new Map<string, Broadcast.Broadcast<SessionItem>>()
    const sessionBroadcast = (sessionId: string) => {
      let broadcast = perSession.get(sessionId)
      if (broadcast === undefined) perSession.set(sessionId, (broadcast = Broadcast.make<SessionItem>()))
      return broadcast
    }
    const publishSession = (item: SessionItem) => {
      events.publish(item)
      perSession.get(item.sessionId)?.publish(item)
    }

    const deliverSession = (event: ServerEvent.SessionEvent | ServerEvent.Gap) => {
      const sequencer = joined.get(event.sessionId)
      if (sequencer === undefined) {
        // Not joined: nothing vouches for its order or origin, so it joins no session stream;
        // it is still visible on `events`.
        events.publish(event)
        return
      }
      if (event.type === "gap") sequencer.gap(event, publishSession)
      else sequencer.accept(event, publishSession)
    }

    /** Handles one frame synchronously; returns an Effect only for the rare work that needs one. */
    const onFrame = (conn: Live, frame: string): Effect.Effect<void> | undefined => {
      const decoded = codec.decode(frame)
      if (Either.isLeft(decoded)) return report(decoded.left.reason, decoded.left.message, frame)
      const event = decoded.right
      switch (event.type) {
        case "welcome":
          // Only the first welcome of a connection sets its features.
          if (conn.welcomed) {
            events.publish(event)
            return undefined
          }
          conn.welcomed = true
          conn.requestIds = event.features?.includes("requestId") ?? false
          Deferred.unsafeDone(conn.welcome, Exit.succeed(event))
          return undefined
        case "connected":
          conn.connectionId = event.connectionId
          break
        case "server_shutdown":
          conn.shutdownDelayMs = event.reconnectAfterMs ?? 0
          events.publish(event)
          return Effect.zipRight(
            Effect.logInfo("gateway is shutting down").pipe(Effect.annotateLogs({ reason: event.reason })),
            conn.connection.close(1000, "server shutdown")
          )
        case "replay_complete": {
          events.publish(event)
          const sequencer = joined.get(event.sessionId)
          if (sequencer !== undefined) sequencer.settle(publishSession)
          return undefined
        }
        case "gap":
          deliverSession(event)
          return undefined
        case "state_snapshot":
          if (event.lastSeq !== undefined) joined.get(event.sessionId)?.baseline(event.lastSeq)
          break
      }
      if (ServerEvent.isSessionEvent(event)) deliverSession(event)
      else events.publish(event)
      const p = matchReply(conn, event)
      if (p !== undefined) settle(p, event)
      else if (event.type === "authenticated") Deferred.unsafeDone(conn.unprompted, Exit.succeed(event))
      return undefined
    }

    const onFrames =
      (conn: Live): Transport.FrameHandler =>
      (frames) => {
        // One clock read per burst of frames (a socket read delivers many), taken right after it.
        if (!conn.stamping) {
          conn.stamping = true
          queueMicrotask(() => {
            conn.stamping = false
            conn.lastFrameAt = clock.unsafeCurrentTimeMillis()
          })
        }
        let effects: Array<Effect.Effect<void>> | undefined
        for (const frame of frames) {
          const effect = onFrame(conn, frame)
          if (effect !== undefined) (effects ??= []).push(effect)
        }
        return effects === undefined ? undefined : Effect.all(effects, { discard: true })
      }

    // ----- outbound ----------------------------------------------------------------------------

    /** A message the Schema rejects (encoding validates) is the caller's `ProtocolError`. */
    const rejected = (message: ClientMessage.ClientMessage, cause: ProtocolError) =>
      new GatewayError({ reason: "ProtocolError", message: cause.message, requestType: message.type, cause })

    const sendMessage = (conn: Live, message: ClientMessage.ClientMessage) => {
      const encoded = codec.encode(message)
      if (Either.isLeft(encoded)) return Effect.fail(rejected(message, encoded.left))
      return Effect.mapError(
        conn.connection.send(encoded.right),
        (cause) =>
          new GatewayError({
            reason: "ConnectionLost",
            message: `could not send ${message.type}: ${cause.message}`,
            requestType: message.type,
            cause
          })
      )
    }

    const withRequestId = (conn: Live, message: ClientMessage.ClientMessage): ClientMessage.ClientMessage =>
      conn.requestIds && message.type !== "answer_question"
        ? withField(message, "requestId", `${clientId}-${++keyCounter}`)
        : message

    const awaitConnection = Effect.suspend(() => {
      if (closing) return Effect.fail(new GatewayError({ reason: "NotConnected", message: "the client is closed" }))
      return Deferred.await(connected)
    })

    /**
     * Sends a request and waits for the event that settles it. The deadline (`requestTimeout`, from
     * the call) is kept by the timers fiber below, not by a timer per request. Without a live
     * connection the request is parked and sent as soon as one is up.
     */
    const exchange = (
      message: ClientMessage.ClientMessage,
      effect?: (event: ServerEvent.ServerEvent) => boolean
    ): Effect.Effect<ServerEvent.ServerEvent, GatewayError> =>
      Effect.suspend(() => {
        if (closing)
          return Effect.fail(
            new GatewayError({ reason: "NotConnected", message: "the client is closed", requestType: message.type })
          )
        const key = ++keyCounter
        const entry: Pending = {
          key,
          message,
          resume: undefined,
          outcome: undefined,
          accepts: Correlation.replyTypes[message.type] as ReadonlyArray<string>,
          ...(effect === undefined ? {} : { effect }),
          epoch: -1,
          deadline: clock.unsafeCurrentTimeMillis() + requestTimeoutMs
        }
        const conn = live
        const wire = conn === undefined ? message : withRequestId(conn, message)
        // Encoding validates: a message the Schema rejects fails now, before anything is sent.
        const encoded = codec.encode(wire)
        if (Either.isLeft(encoded)) return Effect.fail(rejected(message, encoded.left))
        // Parked without a connection: `resume` sends it once one is up.
        if (conn === undefined) {
          track(entry)
          return outcomeOf(entry)
        }
        entry.epoch = conn.epoch
        entry.message = wire
        track(entry)
        // A failed write means the connection is going: the loss handling settles the entry.
        return Effect.zipRight(Effect.ignore(conn.connection.send(encoded.right)), outcomeOf(entry))
      }).pipe((self) => traced(self, message))

    const request = <T extends ClientMessage.Type>(message: ClientMessage.ByType<T>) =>
      exchange(message) as Effect.Effect<Correlation.ReplyOf<T>, GatewayError>

    const ensureJoined = (sessionId: string) =>
      joined.has(sessionId) ? Effect.void : Effect.asVoid(joinSession(sessionId))

    const joinSession = (sessionId: string, afterSeq?: number) =>
      Effect.suspend(() => {
        if (!joined.has(sessionId)) joined.set(sessionId, Sequencer.make(sessionId, afterSeq, reorderWindow))
        const resumeFrom = joined.get(sessionId)!.lastSeq() ?? afterSeq
        return request<"join_session">({
          type: "join_session",
          sessionId,
          ...(resumeFrom === undefined ? {} : { afterSeq: resumeFrom })
        }).pipe(Effect.tapError(() => Effect.sync(() => joined.delete(sessionId))))
      })

    // ----- connection lifecycle ------------------------------------------------------------------

    const resolveToken = Effect.suspend(() =>
      token === undefined
        ? Effect.succeed(undefined)
        : Redacted.isRedacted(token)
          ? Effect.succeed(token as Redacted.Redacted<string>)
          : (token as Effect.Effect<Redacted.Redacted<string>, GatewayError>)
    )

    /** Opens, handshakes and serves one connection; returns how it ended. */
    const connectOnce = (attempt: number) =>
      Effect.gen(function* () {
        yield* setState({ _tag: "Connecting", attempt })
        const connScope = yield* Scope.make()
        const secret = yield* resolveToken.pipe(Effect.tapError(() => Scope.close(connScope, Exit.void)))
        const connection = yield* transport.open({ url: options.url, token: secret, maxMessageBytes }).pipe(
          Scope.extend(connScope),
          Effect.timeoutFail({
            duration: connectTimeout,
            onTimeout: () =>
              new Transport.TransportError({
                reason: "OpenTimeout",
                message: `no connection to ${options.url} within ${Duration.format(connectTimeout)}`
              })
          }),
          Effect.mapError((cause) => new GatewayError({ reason: "ConnectionFailed", message: cause.message, cause })),
          Effect.tapError(() => Scope.close(connScope, Exit.void))
        )
        const conn: Live = {
          epoch: ++epochCounter,
          connection,
          welcome: yield* Deferred.make<ServerEvent.Welcome>(),
          unprompted: yield* Deferred.make<ServerEvent.Authenticated>(),
          requestIds: false,
          welcomed: false,
          connectionId: undefined,
          lastFrameAt: yield* Clock.currentTimeMillis,
          stamping: false,
          nextPingAt: 0,
          silenced: false,
          shutdownDelayMs: undefined
        }
        const reader = yield* Effect.forkIn(connection.run(onFrames(conn)), connScope)
        const handshake = Effect.gen(function* () {
          const welcome = yield* Deferred.await(conn.welcome)
          if (secret === undefined && welcome.requiresAuth) {
            return yield* new GatewayError({
              reason: "AuthRequired",
              message: "Authentication required but no token was provided"
            })
          }
          if (secret === undefined) return (yield* Deferred.await(conn.unprompted)).identity
          const message = withRequestId(conn, { type: "authenticate", token: Redacted.value(secret) })
          const entry: Pending = {
            key: ++keyCounter,
            message,
            resume: undefined,
            outcome: undefined,
            accepts: ["authenticated"],
            epoch: conn.epoch,
            deadline: Number.POSITIVE_INFINITY
          }
          track(entry)
          yield* sendMessage(conn, message).pipe(Effect.tapError(() => Effect.sync(() => forget(entry))))
          const reply = yield* outcomeOf(entry)
          return (reply as ServerEvent.Authenticated).identity
        })
        const closedEarly = Effect.flatMap(Fiber.join(reader), (info) =>
          Effect.fail(
            new GatewayError({
              reason: "ConnectionFailed",
              message: `the gateway closed the connection during the handshake (${info.code}${info.reason ? ` ${info.reason}` : ""})`
            })
          )
        )
        const who = yield* Effect.raceFirst(handshake, closedEarly).pipe(
          Effect.timeoutFail({
            duration: connectTimeout,
            onTimeout: () =>
              new GatewayError({
                reason: "ConnectionFailed",
                message: "Connection timeout while waiting for authentication"
              })
          }),
          Effect.tapError(() => Scope.close(connScope, Exit.void))
        )
        identity = who
        live = conn
        liveScope = connScope
        yield* Effect.logInfo("connected to the gateway").pipe(
          Effect.annotateLogs({ url: options.url, epoch: conn.epoch })
        )
        return { conn, connScope, reader }
      })

    /** After a (re)connect: re-join sessions from their last delivered seq, re-send safe requests. */
    const resume = (conn: Live) =>
      Effect.gen(function* () {
        for (const p of pending.values()) {
          if (p.epoch !== -1) continue
          forget(p)
          p.epoch = conn.epoch
          // A fresh requestId for this connection (`answer_question`'s is the question's: kept).
          if (ownRequestId(p) !== undefined) {
            const { requestId: _previous, ...rest } = p.message as ClientMessage.ClientMessage & { requestId?: string }
            p.message = rest as ClientMessage.ClientMessage
          }
          p.message = withRequestId(conn, p.message)
          track(p)
          yield* Effect.ignore(sendMessage(conn, p.message))
        }
        yield* Effect.forEach(
          [...joined.entries()],
          ([sessionId, sequencer]) => {
            const afterSeq = sequencer.lastSeq()
            return Effect.ignore(
              exchange({ type: "join_session", sessionId, ...(afterSeq === undefined ? {} : { afterSeq }) })
            )
          },
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.forkIn(scope))
      })

    const markConnected = (conn: Live) =>
      Effect.gen(function* () {
        conn.nextPingAt = clock.unsafeCurrentTimeMillis() + pingMs
        yield* setState({
          _tag: "Connected",
          connectionId: conn.connectionId ?? `connection-${conn.epoch}`,
          identity: identity!
        })
        yield* Deferred.succeed(connected, conn)
        yield* resume(conn)
      })

    /** Fails or parks the requests of a connection that is gone. */
    const orphan = (epoch: number, reason: string) =>
      Effect.forEach(
        [...pending.values()].filter((p) => p.epoch === epoch),
        (p) => {
          if (autoReconnect && !closing && idempotent.has(p.message.type)) {
            p.epoch = -1
            return Effect.void
          }
          return Effect.sync(() =>
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
          )
        },
        { discard: true }
      )

    const nextDelay = (driver: { state: unknown }, now: number) =>
      Effect.map(schedule.step(now, undefined, driver.state), ([next, , decision]) => {
        driver.state = next
        return ScheduleDecision.isDone(decision)
          ? undefined
          : Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
      })

    /** The reconnect policy: serve a connection, and after it drops, back off and connect again. */
    const reconnectLoop = (first: {
      conn: Live
      connScope: Scope.CloseableScope
      reader: Fiber.RuntimeFiber<Transport.CloseInfo>
    }) =>
      Effect.gen(function* () {
        let current: typeof first | undefined = first
        let attempt = 1
        const driver = { state: schedule.initial as unknown }
        for (;;) {
          if (current !== undefined) {
            const { conn, connScope, reader } = current
            if (current !== first) yield* markConnected(conn)
            const info = yield* Fiber.join(reader)
            live = undefined
            liveScope = undefined
            connected = yield* Deferred.make<Live, GatewayError>()
            yield* Scope.close(connScope, Exit.void)
            const reason = `closed with ${info.code}${info.reason ? ` (${info.reason})` : ""}`
            yield* Effect.logWarning("connection to the gateway lost").pipe(Effect.annotateLogs({ reason }))
            yield* orphan(conn.epoch, reason)
            if (!autoReconnect || closing) {
              yield* setState({ _tag: "Closed", reason })
              yield* failAll("NotConnected", `the connection ${reason} and reconnecting is off`)
              return
            }
            attempt = 1
            driver.state = schedule.initial
            current = undefined
            if (conn.shutdownDelayMs !== undefined) {
              yield* setState({
                _tag: "Reconnecting",
                attempt,
                delayMs: conn.shutdownDelayMs,
                reason: "server shutdown"
              })
              yield* Effect.sleep(Duration.millis(conn.shutdownDelayMs))
              const result = yield* Effect.either(connectOnce(attempt))
              if (Either.isRight(result)) {
                current = result.right
                continue
              }
              attempt += 1
            }
          }
          const now = yield* Clock.currentTimeMillis
          const delay = yield* nextDelay(driver, now)
          if (delay === undefined) {
            yield* setState({ _tag: "Closed", reason: "gave up reconnecting" })
            yield* failAll("NotConnected", "gave up reconnecting to the gateway")
            return
          }
          yield* setState({ _tag: "Reconnecting", attempt, delayMs: delay, reason: "connection lost" })
          yield* Effect.sleep(Duration.millis(delay))
          const result = yield* Effect.either(connectOnce(attempt))
          if (Either.isRight(result)) current = result.right
          else {
            yield* Effect.logWarning("reconnect attempt failed").pipe(
              Effect.annotateLogs({ attempt, error: result.left.message })
            )
            if (result.left.reason === "AuthFailed" || result.left.reason === "AuthRequired") {
              yield* setState({ _tag: "Closed", reason: result.left.message })
              yield* failAll("NotConnected", result.left.message)
              return
            }
            attempt += 1
          }
        }
      })

    const failAll = (reason: "NotConnected" | "Closed", message: string) =>
      Effect.gen(function* () {
        closing = true
        for (const p of [...pending.values()]) {
          complete(p, Exit.fail(new GatewayError({ reason, message, requestType: p.message.type })))
        }
        yield* Deferred.fail(connected, new GatewayError({ reason: "NotConnected", message }))
      })

    /**
     * One fiber for every timer of the client: request deadlines (`RequestTimeout`), the keepalive
     * `ping`, and the silence timeout. It sleeps until the earliest of them, but never longer than
     * the shortest of those periods: a request made meanwhile then cannot expire before the fiber
     * wakes, so nothing has to wake it early. One fiber instead of a timer per request and a fiber
     * per keepalive job keeps idle clients small and requests cheap.
     */
    const pingMs = Duration.toMillis(pingInterval)
    const silenceMs = Duration.toMillis(silenceTimeout)
    const longestNap = Math.max(1, Math.min(requestTimeoutMs, pingMs || Infinity, silenceMs || Infinity))
    const timers = Effect.gen(function* () {
      for (;;) {
        const now = clock.unsafeCurrentTimeMillis()
        let next = Number.POSITIVE_INFINITY
        for (const p of [...pending.values()]) {
          if (p.deadline > now) {
            if (p.deadline < next) next = p.deadline
            continue
          }
          complete(
            p,
            Exit.fail(
              new GatewayError({
                reason: "RequestTimeout",
                message: `Request timeout for ${p.message.type}`,
                requestType: p.message.type
              })
            )
          )
        }
        const conn = live
        if (conn !== undefined && !conn.silenced) {
          if (silenceMs > 0) {
            // A frame whose clock read is still queued arrived just now.
            if (conn.stamping) conn.lastFrameAt = now
            if (now - conn.lastFrameAt > silenceMs) {
              conn.silenced = true
              yield* Effect.logWarning("no frame from the gateway within the silence timeout; dropping the connection")
              yield* conn.connection.close(4000, "silence timeout")
              continue
            }
            next = Math.min(next, conn.lastFrameAt + silenceMs + 1)
          }
          if (pingMs > 0) {
            if (now >= conn.nextPingAt) {
              conn.nextPingAt = now + pingMs
              yield* Effect.forkIn(Effect.ignore(exchange({ type: "ping", ts: now })), scope)
            }
            next = Math.min(next, conn.nextPingAt)
          }
        }
        yield* Effect.sleep(Duration.millis(Math.max(1, Math.min(next - now, longestNap))))
      }
    })

    // ----- startup and shutdown ------------------------------------------------------------------

    yield* Effect.forkIn(timers, scope)
    const first = yield* connectOnce(1)
    yield* markConnected(first.conn)
    const loop = yield* Effect.forkIn(reconnectLoop(first), scope)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        closing = true
        yield* Fiber.interrupt(loop)
        const conn = live
        const connScope = liveScope
        live = undefined
        yield* failAll("Closed", "the client was closed")
        if (conn !== undefined) yield* conn.connection.close(1000, "client closed")
        if (connScope !== undefined) yield* Scope.close(connScope, Exit.void)
        events.end()
        diagnostics.end()
        for (const broadcast of perSession.values()) broadcast.end()
        yield* setState({ _tag: "Closed", reason: "client closed" })
      })
    )

    // ----- API -----------------------------------------------------------------------------------

    const subscribe = Stream.unwrapScoped(events.subscribeScoped(eventBuffer))
    const sessionEvents = (sessionId: string) =>
      Stream.unwrapScoped(sessionBroadcast(sessionId).subscribeScoped(eventBuffer))

    const confirmed = <T extends ServerEvent.Type>(
      message: ClientMessage.ClientMessage & { readonly sessionId: string },
      type: T,
      accept: (event: ServerEvent.ByType<T>) => boolean
    ) =>
      Effect.zipRight(
        ensureJoined(message.sessionId),
        exchange(
          message,
          (event) =>
            event.type === type &&
            (event as { sessionId?: string }).sessionId === message.sessionId &&
            accept(event as ServerEvent.ByType<T>)
        )
      ) as Effect.Effect<ServerEvent.ByType<T>, GatewayError>

    const runTurn = (sessionId: string, text: string, clientTurnId?: string) => {
      const id = clientTurnId ?? `${clientId}-turn-${++keyCounter}`
      return confirmed(
        { type: "run_turn", sessionId, text, clientTurnId: id },
        "turn_started",
        (e) => e.clientTurnId === id
      )
    }

    const client: GatewayClient = {
      state,
      identity: Effect.sync(() => Option.fromNullable(identity)),
      events: subscribe,
      eventsOf: (type) => Stream.filter(subscribe, (e): e is ServerEvent.ByType<typeof type> => e.type === type),
      sessionEvents,
      diagnostics: Stream.unwrapScoped(diagnostics.subscribeScoped(eventBuffer)),
      listSessions: (includeArchived) =>
        Effect.map(
          request<"list_sessions">({
            type: "list_sessions",
            ...(includeArchived === undefined ? {} : { includeArchived })
          }),
          (r) => r.sessions
        ),
      createSession: (agentType, name) =>
        Effect.map(
          request<"create_session">({ type: "create_session", agentType, ...(name === undefined ? {} : { name }) }),
          (r) => r.session
        ),
      renameSession: (sessionId, name) =>
        Effect.map(request<"rename_session">({ type: "rename_session", sessionId, name }), (r) => r.session),
      archiveSession: (sessionId) =>
        Effect.map(request<"archive_session">({ type: "archive_session", sessionId }), (r) => r.session),
      unarchiveSession: (sessionId) =>
        Effect.map(request<"unarchive_session">({ type: "unarchive_session", sessionId }), (r) => r.session),
      deleteSession: (sessionId) =>
        Effect.zipRight(
          request<"delete_session">({ type: "delete_session", sessionId }),
          Effect.sync(() => void joined.delete(sessionId))
        ),
      joinSession,
      leaveSession: (sessionId) =>
        Effect.gen(function* () {
          joined.delete(sessionId)
          const conn = yield* awaitConnection
          yield* sendMessage(conn, { type: "leave_session", sessionId })
        }),
      runTurn,
      turn: (sessionId, text) =>
        Stream.unwrapScoped(
          Effect.gen(function* () {
            yield* ensureJoined(sessionId)
            // Subscribed before the turn starts, so none of its events can be missed.
            const items = yield* sessionBroadcast(sessionId).subscribeScoped(eventBuffer)
            const started = yield* runTurn(sessionId, text)
            let inTurn = false
            return items.pipe(
              Stream.filter((item) => {
                if (!inTurn && item.type === "turn_started" && item.turnId === started.turnId) inTurn = true
                return inTurn
              }),
              Stream.takeUntil(
                (item) =>
                  (item.type === "turn_complete" || item.type === "turn_error") && item.turnId === started.turnId
              ),
              Stream.mapEffect((item) =>
                item.type === "turn_error" && item.turnId === started.turnId
                  ? Effect.fail(
                      new GatewayError({
                        reason: "TurnFailed",
                        message: `${item.code}: ${item.message}`,
                        code: item.code,
                        requestType: "run_turn"
                      })
                    )
                  : Effect.succeed(item)
              )
            )
          })
        ),
      stopTurn: (sessionId) => confirmed({ type: "stop_turn", sessionId }, "stop_acknowledged", () => true),
      steer: (sessionId, content) =>
        confirmed({ type: "steer", sessionId, content }, "steer_sent", (e) => e.content === content),
      answerQuestion: (sessionId, requestId, answers, dismissed) =>
        confirmed(
          { type: "answer_question", sessionId, requestId, answers, ...(dismissed === undefined ? {} : { dismissed }) },
          "approval_resolved",
          (e) => e.requestId === requestId
        ),
      getHistory: (sessionId, afterSeq, limit) =>
        Effect.map(
          request<"get_history">({
            type: "get_history",
            sessionId,
            ...(afterSeq === undefined ? {} : { afterSeq }),
            ...(limit === undefined ? {} : { limit })
          }),
          (r) => r.messages
        ),
      getEvents: (sessionId, afterSeq, limit) =>
        Effect.map(
          request<"get_events">({
            type: "get_events",
            sessionId,
            ...(afterSeq === undefined ? {} : { afterSeq }),
            ...(limit === undefined ? {} : { limit })
          }),
          (r) => r.events
        ),
      ping: Effect.suspend(() => {
        const start = clock.unsafeCurrentTimeMillis()
        return Effect.map(request<"ping">({ type: "ping", ts: start }), () => ({
          latencyMs: clock.unsafeCurrentTimeMillis() - start
        }))
      }),
      listFiles: (sessionId, path, depth) =>
        Effect.map(
          request<"list_files">({
            type: "list_files",
            sessionId,
            ...(path === undefined ? {} : { path }),
            ...(depth === undefined ? {} : { depth })
          }),
          (r) => r.entries
        ),
      readFile: (sessionId, path) => request<"read_file">({ type: "read_file", sessionId, path }),
      fileHistory: (sessionId, path) =>
        Effect.map(request<"file_history">({ type: "file_history", sessionId, path }), (r) => r.versions),
      fileAtIteration: (sessionId, path, iteration) =>
        request<"file_at_iteration">({ type: "file_at_iteration", sessionId, path, iteration }),
      manageMembers: (action, userId, role) =>
        request<"manage_members">({
          type: "manage_members",
          action,
          ...(userId === undefined ? {} : { userId }),
          ...(role === undefined ? {} : { role })
        }),
      refreshToken: (fresh) =>
        Effect.gen(function* () {
          if (fresh !== undefined) token = fresh
          const secret = yield* resolveToken
          if (secret === undefined)
            return yield* new GatewayError({ reason: "AuthRequired", message: "refreshToken needs a token" })
          const reply = yield* request<"authenticate">({ type: "authenticate", token: Redacted.value(secret) })
          identity = reply.identity
          return reply.identity
        })
    }
    return client
  })

/**
 * The client as a layer, over the {@link Transport.Transport} in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: GatewayClientOptions): Layer.Layer<GatewayClient, GatewayError, Transport.Transport> =>
  Layer.scoped(GatewayClient, make(options))

/**
 * The Diminuendo gateway client: one connection, as a scoped service.
 *
 * - Requests are Effects that succeed with the typed reply and fail with {@link GatewayError}. A
 *   reply meets its request in `internal/requests.ts` (`match`): by `requestId` when the gateway
 *   advertises the feature, otherwise by `Correlation.matches` (type and key fields), oldest first.
 * - Events are Streams: every event, events of one type, one session's events (exactly once, in
 *   `seq` order, or an explicit gap), and a turn's events.
 * - Reconnect policy (`internal/supervisor.ts`): after a drop, wait per `reconnectSchedule`,
 *   reconnect, authenticate with a fresh token, re-join every joined session with `afterSeq` = the
 *   last `seq` delivered. Idempotent requests in flight are re-sent; the others fail with
 *   `ConnectionLost`.
 *
 * @since 0.1.0
 */
import { type ClientMessage, Codec, type Correlation, type ServerEvent, type Shapes } from "@diminuendo/protocol"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Subscribable from "effect/Subscribable"
import * as ConnectionState from "./ConnectionState.js"
import type { Diagnostic } from "./Diagnostic.js"
import type { GatewayError } from "./GatewayError.js"
import * as Broadcast from "./internal/broadcast.js"
import * as Dispatch from "./internal/dispatch.js"
import * as Keepalive from "./internal/keepalive.js"
import * as Methods from "./internal/methods.js"
import { count } from "./internal/options.js"
import * as Requests from "./internal/requests.js"
import type * as Sequencer from "./internal/sequencer.js"
import * as Sessions from "./internal/sessions.js"
import * as Supervisor from "./internal/supervisor.js"
import * as Timers from "./internal/timers.js"
import * as Warnings from "./internal/warnings.js"
import type * as SessionState from "./SessionState.js"
import * as Transport from "./Transport.js"

/**
 * The counts are safe integers: `maxMissedPongs`, `maxMessageBytes`, `eventBuffer` and
 * `eventBufferBytes` at least 1, `reorderWindow` at least 0. With another value (NaN, `Infinity`, a
 * string) making the client dies with a `RangeError` naming the option: it would switch a bound off.
 *
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
  /** Keepalive pings in a row without a `pong` after which the connection is dropped. @default 2 */
  readonly maxMissedPongs?: number
  /** A connection with no frame for this long is dead (half-open) and is dropped; 0 disables. @default 75 seconds */
  readonly silenceTimeout?: Duration.DurationInput
  /** Largest frame accepted or sent. @default 16 MiB */
  readonly maxMessageBytes?: number
  /** Per-subscriber event buffer; a subscriber further behind fails with `SlowConsumer`. @default 4096 */
  readonly eventBuffer?: number
  /** Per-subscriber event buffer in bytes (of the frames the events came in). @default 64 MiB */
  readonly eventBufferBytes?: number
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

/**
 * An event of a type this client does not know that carries a session's `sessionId` and `seq`: it
 * is delivered on that session's stream in its place.
 *
 * @since 0.2.0
 * @category models
 */
export type UnknownSessionEvent = Sequencer.UnknownSessionEvent

/**
 * The session's log went backwards: the gateway now stands at `seq`, below the `previousSeq` this
 * client had delivered (a failover restarted the log). Delivered on the session's stream; what
 * follows continues from `seq`. Also reported on `diagnostics` (`SessionReset`).
 *
 * Noticed from `state_snapshot.lastSeq` or `replay_complete.lastSeq` below what was delivered, from
 * another event at a recently delivered `seq` (the last `reorderWindow`), or from an event at an
 * older `seq` whose `ts` is later than the last delivered event's (a log's times do not go back and
 * a replay keeps them: it was not delivered before). The last covers the seeds' gateway, which
 * sends no `lastSeq`: the session is reset to 0 and joined again from there, so the new log's
 * earlier events follow.
 *
 * @since 0.2.0
 * @category models
 */
export type SessionReset = Sequencer.SessionReset

/**
 * What a session stream carries: the session's events, in `seq` order, each once, gaps and resets.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionItem = Sequencer.SessionItem

/**
 * The fields of a client message of type `T`, as a method takes them (no `type`, no `requestId`).
 *
 * @since 0.2.0
 * @category models
 */
export type Fields<T extends ClientMessage.Type> = Omit<ClientMessage.ByType<T>, "type" | "requestId">

/**
 * @since 0.1.0
 * @category models
 */
export interface GatewayClient {
  /** The connection's state, current value first; read and watch only. */
  readonly state: Subscribable.Subscribable<ConnectionState.ConnectionState>
  readonly identity: Effect.Effect<Option.Option<Shapes.Identity>>
  /** Every event, unknown ones included; session events deduplicated and in order. */
  readonly events: Stream.Stream<ServerEvent.ServerEvent, GatewayError>
  readonly eventsOf: <T extends ServerEvent.Type>(type: T) => Stream.Stream<ServerEvent.ByType<T>, GatewayError>
  /**
   * One session's events and gaps. Only events of that session can appear. Live from the moment the
   * stream starts running: to be sure to see the events of something you are about to do, use
   * {@link GatewayClient.subscribeSession}.
   */
  readonly sessionEvents: (sessionId: string) => Stream.Stream<SessionItem, GatewayError>
  /**
   * Subscribes to one session's items now and returns the stream to read them: everything
   * delivered after this Effect completes is in it, however late the stream is run. The
   * subscription ends with the scope.
   */
  readonly subscribeSession: (
    sessionId: string
  ) => Effect.Effect<Stream.Stream<SessionItem, GatewayError>, never, Scope.Scope>
  /**
   * One session folded into what an app renders ({@link SessionState.SessionState}), joined if
   * needed, surviving reconnects: `get` reads the current state at once, `changes` streams it.
   * Ends with the scope.
   */
  readonly sessionState: (
    sessionId: string
  ) => Effect.Effect<Subscribable.Subscribable<SessionState.SessionState, GatewayError>, GatewayError, Scope.Scope>
  /** {@link GatewayClient.events}, subscribed now (see {@link GatewayClient.subscribeSession}). */
  readonly subscribeEvents: Effect.Effect<Stream.Stream<ServerEvent.ServerEvent, GatewayError>, never, Scope.Scope>
  /** Frames the client could not use, and errors it could not attribute. */
  readonly diagnostics: Stream.Stream<Diagnostic, GatewayError>

  /**
   * Sends any client message and waits for what answers it: its reply, the session event that
   * confirms a fire-and-forget message (the session is joined first), or nothing (`leave_session`).
   */
  readonly request: <T extends ClientMessage.Type>(
    message: ClientMessage.ByType<T>
  ) => Effect.Effect<Correlation.OutcomeOf<T>, GatewayError>
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
  /**
   * Answers a `question_requested` or `permission_requested` (its `requestId`); `dismissed` declines.
   * Succeeds with the `approval_resolved` that shows the gateway took it.
   */
  readonly answerQuestion: (
    sessionId: string,
    requestId: string,
    answers: Readonly<Record<string, string>>,
    dismissed?: boolean
  ) => Effect.Effect<ServerEvent.ApprovalResolved, GatewayError>
  /** Answers a `question_requested`: `answers` by question id. */
  readonly answer: (
    sessionId: string,
    requestId: string,
    answers: Readonly<Record<string, string>>
  ) => Effect.Effect<ServerEvent.ApprovalResolved, GatewayError>
  /** Approves a `permission_requested` (`answers: { decision: "approve" }`). */
  readonly approve: (sessionId: string, requestId: string) => Effect.Effect<ServerEvent.ApprovalResolved, GatewayError>
  /** Denies a `permission_requested` (`answers: { decision: "deny" }`). */
  readonly deny: (sessionId: string, requestId: string) => Effect.Effect<ServerEvent.ApprovalResolved, GatewayError>
  readonly getHistory: (
    options: Fields<"get_history">
  ) => Effect.Effect<ReadonlyArray<Shapes.HistoryMessage>, GatewayError>
  readonly getEvents: (options: Fields<"get_events">) => Effect.Effect<ServerEvent.Events["events"], GatewayError>
  readonly ping: Effect.Effect<{ readonly latencyMs: number }, GatewayError>
  readonly listFiles: (options: Fields<"list_files">) => Effect.Effect<ReadonlyArray<Shapes.FileEntry>, GatewayError>
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
  /** `list` answers `member_list`, `set_role` `member_updated`, `remove` `member_removed`. */
  readonly manageMembers: <A extends ClientMessage.ManageMembers["action"]>(
    options: Fields<"manage_members"> & { readonly action: A }
  ) => Effect.Effect<Correlation.MemberReplyOf<A>, GatewayError>
  /** Re-authenticates on the live connection (no reconnect); the token is used for later reconnects too. */
  readonly refreshToken: (token?: Redacted.Redacted<string>) => Effect.Effect<Shapes.Identity, GatewayError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const GatewayClient = Context.GenericTag<GatewayClient>("@diminuendo/client/GatewayClient")

/** A token that is empty or blank is no token (the Rust seed's dev-mode pattern). */
const nonBlank = (token: Redacted.Redacted<string> | undefined) =>
  token === undefined || Redacted.value(token).trim() === "" ? undefined : token

/** The token for the next connection attempt (an Effect token is run again each time). */
const resolveToken = (
  token: GatewayClientOptions["token"]
): Effect.Effect<Redacted.Redacted<string> | undefined, GatewayError> =>
  token === undefined
    ? Effect.succeed(undefined)
    : Redacted.isRedacted(token)
      ? Effect.succeed(nonBlank(token as Redacted.Redacted<string>))
      : Effect.map(token as Effect.Effect<Redacted.Redacted<string>, GatewayError>, nonBlank)

/** Clients with the same frame limit share one codec (it holds no state). */
const codecs = new Map<number, Codec.ClientCodec>()
const codecFor = (maxFrameBytes: number): Codec.ClientCodec => {
  let codec = codecs.get(maxFrameBytes)
  if (codec === undefined) {
    codec = Codec.makeClientCodec({ maxFrameBytes })
    // A few distinct limits in a process; past that, each client has its own.
    if (codecs.size < 16) codecs.set(maxFrameBytes, codec)
  }
  return codec
}

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
    const maxMessageBytes = count("maxMessageBytes", options.maxMessageBytes, Codec.defaultMaxFrameBytes, 1)
    const bounds: Broadcast.Bounds = {
      events: count("eventBuffer", options.eventBuffer, 4096, 1),
      bytes: count("eventBufferBytes", options.eventBufferBytes, 64 * 1024 * 1024, 1)
    }
    const reorderWindow = count("reorderWindow", options.reorderWindow, 64, 0)
    const maxMissedPongs = count("maxMissedPongs", options.maxMissedPongs, 2, 1)
    const codec = codecFor(maxMessageBytes)
    let token = options.token

    const events = Broadcast.make<ServerEvent.ServerEvent>()
    const diagnostics = Broadcast.make<Diagnostic>()
    const warnings = Warnings.make(diagnostics, clock)
    const sessions = Sessions.make({
      publishAll: (event, bytes) => events.publish(event, bytes),
      reorderWindow,
      report: (reason, message) => warnings.warn({ reason, message, excerpt: "" })
    })
    const requestTimeoutMs = Duration.toMillis(Duration.decode(options.requestTimeout ?? "10 seconds"))
    const keepalive = {
      clock,
      codec,
      pingMs: Duration.toMillis(Duration.decode(options.pingInterval ?? "30 seconds")),
      silenceMs: Duration.toMillis(Duration.decode(options.silenceTimeout ?? "75 seconds")),
      maxMissedPongs
    }
    const timers = Timers.make({ clock, napMs: Math.min(requestTimeoutMs, Keepalive.period(keepalive)) })
    const requests = Requests.make({
      codec,
      clock,
      timeoutMs: requestTimeoutMs,
      isClosing: () => supervisor.isClosing(),
      wake: timers.wake
    })
    timers.add(requests.tick)
    const connectTimeout = Duration.decode(options.connectTimeout ?? "10 seconds")
    const supervisor: Supervisor.Supervisor = yield* Supervisor.make({
      transport,
      url: options.url,
      maxMessageBytes,
      connectTimeout,
      requests,
      handler: Dispatch.make({
        codec,
        requests,
        sessions,
        events,
        warnings,
        scope,
        replayTimeout: connectTimeout,
        onIdentity: (link, event) => supervisor.setIdentity(event.identity, link)
      }),
      protocolVersions: ConnectionState.supportedProtocolVersions,
      autoReconnect: options.autoReconnect ?? true,
      schedule: options.reconnectSchedule ?? defaultReconnectSchedule,
      keepalive,
      timers,
      warnings,
      onGiveUp: (error) => {
        events.end(error)
        sessions.end(error)
        diagnostics.end()
      },
      sessions,
      token: Effect.suspend(() => resolveToken(token)),
      scope
    })

    yield* Scope.extend(timers.start, scope)
    yield* supervisor.start
    // `Scope.addFinalizer`, not `Effect.addFinalizer`: the latter keeps a copy of this fiber's
    // FiberRefs per client for the finalizer's sake (bench/ANALYSIS.md, memory per idle client).
    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function* () {
        yield* supervisor.close
        events.end()
        diagnostics.end()
        sessions.end()
      })
    )

    return Methods.make({
      clock,
      codec,
      bounds,
      requests,
      sessions,
      supervisor,
      events,
      diagnostics,
      token: () => token,
      setToken: (next) => {
        token = next
      },
      resolveToken
    })
  })

/**
 * The client as a layer, over the {@link Transport.Transport} in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: GatewayClientOptions): Layer.Layer<GatewayClient, GatewayError, Transport.Transport> =>
  Layer.scoped(GatewayClient, make(options))

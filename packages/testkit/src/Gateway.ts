/**
 * An in-memory Diminuendo gateway: a state machine over the protocol package's Schemas. Every
 * inbound frame is decoded with the gateway codec, every outbound event encoded with it. Tenants,
 * members, sessions with ordered event logs and bounded retention, replay with gaps, turns driven
 * by scripted agents, workspaces with file versions, heartbeats, and fault injection.
 *
 * Transports attach connections with {@link Gateway.accept}: `InMemory` (no sockets, same bytes)
 * and `WsServer` (a real `ws` server).
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
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
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Agent from "./Agent.js"
import * as Faults from "./Faults.js"
import * as Connection from "./internal/connection.js"
import * as Handlers from "./internal/handlers.js"
import * as Members from "./internal/members.js"
import * as Receive from "./internal/receive.js"
import * as Sessions from "./internal/sessions.js"
import * as Turns from "./internal/turns.js"

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * A user the gateway knows: the token that authenticates as them, and their role in their tenant.
 *
 * @since 0.1.0
 * @category models
 */
export interface User {
  readonly token: string
  readonly identity: Shapes.Identity
  /** @default "member" */
  readonly role?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface GatewayOptions {
  /** Known users. With at least one, authentication is required unless `requiresAuth` says otherwise. */
  readonly users?: ReadonlyArray<User>
  /** @default true when `users` is non-empty */
  readonly requiresAuth?: boolean
  /** The identity given to every connection in dev mode. @default dev@localhost in tenant "dev", role owner */
  readonly devIdentity?: Shapes.Identity
  /**
   * `"full"`: everything this project designed. `"seed"`: exactly what the seeds fix: no field of
   * ours (`ServerEvent.additions`: no `requestId` echo, no `clientTurnId` echo, no `serverVersion`,
   * `protocolVersion`, `features`, `lastSeq`, ...) and, in dev mode, no `authenticated` after the
   * welcome. The gateway a client must work with as well.
   *
   * @default "full"
   */
  readonly profile?: "full" | "seed"
  /** Advertise and echo `requestId` (design). Off: no ids at all. Always off in the seed profile. @default true */
  readonly requestIds?: boolean
  /** @default 30000; 0 sends no heartbeats */
  readonly heartbeatIntervalMs?: number
  /**
   * Session events kept per session for replay; older ones are answered with `gap`. A bound, not
   * an allocation: a session's log takes memory for the events it holds. @default 1000
   */
  readonly retention?: number
  /** Bytes of session events (their frames) kept per session for replay, whatever their count. @default 64 MiB */
  readonly retentionBytes?: number
  /** Inbound frames larger than this get `error` `FRAME_TOO_LARGE`. @default 16 MiB */
  readonly maxFrameBytes?: number
  /**
   * Before a connection authenticates, a frame larger than this gets `FRAME_TOO_LARGE` and the
   * connection is closed with 1009, without decoding it: an anonymous peer cannot make the gateway
   * parse megabytes. @default 64 KiB
   */
  readonly maxUnauthenticatedFrameBytes?: number
  /** Frames queued for one connection; when full the connection is closed with 1013. @default 65536 */
  readonly outboundBuffer?: number
  /**
   * Bytes waiting to go out to one connection (queued here and buffered in its socket): past this,
   * the connection does not read fast enough and is closed with 1013 (`CloseCode.TryAgainLater`).
   * @default 16 MiB
   */
  readonly outboundBufferBytes?: number
  /** Pause between agent steps (Effect Clock, so TestClock drives it). @default 0 */
  readonly agentStepMs?: number
  /** Extra agents by `agentType`, besides `echo` and `coding-agent`. */
  readonly agents?: Readonly<Record<string, Agent.Agent>>
  /** @default "diminuendo-testkit/0.1.0" */
  readonly serverVersion?: string
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/**
 * The transport side of a connection: how the gateway writes frames and closes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Peer {
  readonly write: (frame: string) => Effect.Effect<void>
  /** Closes with a code, or abruptly (no close frame, the peer sees 1006) when `code` is undefined. */
  readonly close: (code?: number, reason?: string) => Effect.Effect<void>
  /** Bytes written and not yet sent (a socket's `bufferedAmount`), where the transport knows it. */
  readonly buffered?: () => number
}

/**
 * A test's handle on one live connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionControl {
  readonly id: string
  readonly identity: () => Shapes.Identity | null
  readonly joined: () => ReadonlyArray<string>
  readonly faults: Faults.Faults
  /** Closes the connection with a close code, or abruptly without one. */
  readonly drop: (code?: number, reason?: string) => Effect.Effect<void>
  /** Sends a frame as is, bypassing the codec: garbage, malformed or unknown events, oversized frames. */
  readonly sendRaw: (frame: string) => Effect.Effect<void>
  /** Sends a valid event (encoded with the codec) to this connection only; an invalid one fails. */
  readonly send: (event: ServerEvent.ServerEvent) => Effect.Effect<void, ProtocolError>
  /** Sends `server_shutdown` to this connection. */
  readonly sendShutdown: (reason: string, reconnectAfterMs?: number) => Effect.Effect<void>
}

/**
 * A frame from a client: text (the protocol's), or binary (refused with `INVALID_MESSAGE`).
 *
 * @since 0.2.0
 * @category models
 */
export type Frame = string | Uint8Array

/**
 * What a transport gets back from {@link Gateway.accept}: where to hand inbound frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface Accepted {
  /** Handles one inbound frame. Frames of one connection must be handed over in order. */
  readonly receive: (frame: Frame) => Effect.Effect<void>
  readonly control: ConnectionControl
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Gateway {
  readonly options: Required<
    Pick<
      GatewayOptions,
      "profile" | "requiresAuth" | "requestIds" | "heartbeatIntervalMs" | "retention" | "maxFrameBytes"
    >
  >
  /** Attaches a connection; it lives until the scope closes. Sends `welcome` and `connected`. */
  readonly accept: (peer: Peer) => Effect.Effect<Accepted, never, Scope.Scope>
  /** Faults applied to every connection, present and future. */
  readonly faults: Faults.Faults
  /** The live connections, oldest first. */
  readonly connections: Effect.Effect<ReadonlyArray<ConnectionControl>>
  /** Sends `server_shutdown` to every connection, then closes each with 1012 (service restart). */
  readonly shutdown: (reason: string, reconnectAfterMs?: number) => Effect.Effect<void>
  /** Forgets the retained events of a session with `seq <= throughSeq` (all by default): a later replay gets a `gap`. */
  readonly forgetEvents: (sessionId: string, throughSeq?: number) => Effect.Effect<void>
  /**
   * Simulates a failover that lost the session's log: it restarts empty, and the next event has
   * `seq` 1 (clients that delivered more must notice the log went backwards).
   */
  readonly restartSessionLog: (sessionId: string) => Effect.Effect<void>
  /** The next turn of this session plays exactly these events, whatever its agent. */
  readonly scriptNextTurn: (sessionId: string, events: ReadonlyArray<Agent.EmittedEvent>) => Effect.Effect<void>
  /** The session's retained log (tests compare it with what clients saw). */
  readonly sessionLog: (sessionId: string) => Effect.Effect<ReadonlyArray<ServerEvent.SessionEvent>>
  /** Creates a session directly (no connection needed). */
  readonly createSession: (tenantId: string, agentType: string, name?: string) => Effect.Effect<Shapes.SessionMeta>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const Gateway = Context.GenericTag<Gateway>("@diminuendo/testkit/Gateway")

const defaultDevIdentity: Shapes.Identity = { userId: "dev-user", email: "dev@localhost", tenantId: "dev" }

/**
 * Builds a gateway whose turns and timers live in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: GatewayOptions = {}): Effect.Effect<Gateway, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const users = options.users ?? []
    const seed = options.profile === "seed"
    const settings = {
      profile: options.profile ?? "full",
      requiresAuth: options.requiresAuth ?? users.length > 0,
      requestIds: !seed && (options.requestIds ?? true),
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
      retention: Math.max(1, options.retention ?? 1000),
      maxFrameBytes: options.maxFrameBytes ?? Codec.defaultMaxFrameBytes
    }
    const maxUnauthenticatedFrameBytes = options.maxUnauthenticatedFrameBytes ?? 64 * 1024
    // What a client may put in fields that come back in events, so every event the gateway builds
    // fits a frame: a quarter of the frame for texts, and short names and ids.
    const limits: Handlers.Limits = {
      nameChars: 1024,
      clientTurnIdChars: 256,
      textChars: Math.floor(settings.maxFrameBytes / 4)
    }
    const outboundBuffer = options.outboundBuffer ?? 65_536
    const outboundBufferBytes = options.outboundBufferBytes ?? 16 * 1024 * 1024
    const devIdentity = options.devIdentity ?? defaultDevIdentity
    const agents: Record<string, Agent.Agent> = { ...Agent.builtIn, ...options.agents }
    /** What leaves the gateway: in the seed profile, without this project's additions. */
    const outgoing = seed ? ServerEvent.withoutAdditions : <E extends ServerEvent.ServerEvent>(event: E) => event
    const base = Codec.makeGatewayCodec({ maxFrameBytes: settings.maxFrameBytes })
    const codec: Codec.GatewayCodec = { ...base, encode: (event) => base.encode(outgoing(event)) }
    const serverVersion = options.serverVersion ?? "diminuendo-testkit/0.1.0"
    const now = Clock.currentTimeMillis

    const byToken = new Map(users.map((u) => [u.token, u]))
    const members = Members.make()
    for (const user of users) members.add(user.identity, user.role ?? "member")
    members.add(devIdentity, "owner")

    /** The correlation fields of a reply to `message`: its `requestId`, when the gateway echoes them. */
    const correlate = (message: ClientMessage.ClientMessage): { requestId?: string } =>
      settings.requestIds && message.requestId !== undefined && Correlation.hasCorrelationId(message.type)
        ? { requestId: message.requestId }
        : {}

    const sessions = Sessions.make({
      codec,
      retention: settings.retention,
      retentionBytes: options.retentionBytes ?? 64 * 1024 * 1024,
      now,
      correlate,
      outgoing,
      newId: () => `sess-${randomUUID()}`,
      historyChars: limits.textChars
    })
    const turns = Turns.make({
      sessions,
      agents,
      stepMs: options.agentStepMs ?? 0,
      now,
      scope,
      echoClientTurnId: !seed,
      maxTextChars: limits.textChars
    })
    const conns = new Map<string, Connection.Conn>()
    const gatewayFaults = Faults.makeState()
    let connectionCounter = 0

    const authenticate = Receive.makeAuthenticate({
      byToken,
      requiresAuth: settings.requiresAuth,
      devIdentity,
      sessions
    })

    const handle = Handlers.make({
      limits,
      sessions,
      turns,
      members,
      agents,
      now,
      authenticate,
      removed: (tenantId, userId) => {
        for (const conn of conns.values()) {
          if (conn.identity?.tenantId === tenantId && conn.identity.userId === userId) {
            for (const sessionId of [...conn.joined]) sessions.leave(conn, sessionId)
          }
        }
      }
    })

    const receive = Receive.make({
      codec,
      requestIds: settings.requestIds,
      maxUnauthenticatedFrameBytes,
      members,
      correlate,
      handle
    })
    const controlOf = (conn: Connection.Conn): ConnectionControl => Connection.control(codec, conn)

    const accept = (peer: Peer): Effect.Effect<Accepted, never, Scope.Scope> =>
      Effect.gen(function* () {
        connectionCounter += 1
        const conn = yield* Connection.make(
          `conn-${connectionCounter}`,
          peer,
          settings.requiresAuth ? null : devIdentity,
          { frames: outboundBuffer, bytes: outboundBufferBytes }
        )
        conns.set(conn.id, conn)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            conn.closed = true
            conns.delete(conn.id)
            for (const sessionId of conn.joined) sessions.leave(conn, sessionId)
          })
        )
        yield* Effect.forkScoped(Connection.writer(conn, gatewayFaults))
        const ts = yield* now
        yield* Connection.sendLogged(codec, conn, {
          type: "welcome",
          serverVersion,
          protocolVersion: 1,
          requiresAuth: settings.requiresAuth,
          ...(settings.heartbeatIntervalMs > 0 ? { heartbeatIntervalMs: settings.heartbeatIntervalMs } : {}),
          features: settings.requestIds ? ["requestId"] : []
        })
        yield* Connection.sendLogged(codec, conn, { type: "connected", connectionId: conn.id, ts })
        if (!settings.requiresAuth && !seed) {
          yield* Connection.sendLogged(codec, conn, { type: "authenticated", identity: devIdentity })
        }
        yield* Connection.heartbeat(codec, conn, settings.heartbeatIntervalMs, now)
        return { receive: receive(conn), control: controlOf(conn) }
      })

    const gateway: Gateway = {
      options: settings,
      accept,
      faults: Faults.handle(gatewayFaults),
      connections: Effect.sync(() => [...conns.values()].map(controlOf)),
      shutdown: (reason, reconnectAfterMs) =>
        Effect.forEach(
          [...conns.values()],
          (conn) =>
            Effect.zipRight(
              Connection.sendLogged(codec, conn, {
                type: "server_shutdown",
                reason,
                ...(reconnectAfterMs === undefined ? {} : { reconnectAfterMs })
              }),
              // The notice and everything queued before it go out first.
              Connection.closeAfterQueued(conn, 1012, reason)
            ),
          { discard: true }
        ),
      forgetEvents: (sessionId, throughSeq) => Effect.sync(() => sessions.forget(sessionId, throughSeq)),
      restartSessionLog: (sessionId) => Effect.sync(() => sessions.restart(sessionId)),
      scriptNextTurn: (sessionId, events) =>
        Effect.sync(() => {
          const s = sessions.get(sessionId)
          if (s !== undefined) s.nextScript = Agent.script(events)
        }),
      sessionLog: (sessionId) => Effect.sync(() => sessions.log(sessionId)),
      createSession: (tenantId, agentType, name) => sessions.create(tenantId, agentType, name)
    }
    return gateway
  })

/**
 * A layer providing a {@link Gateway} built with `options`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: GatewayOptions = {}): Layer.Layer<Gateway> => Layer.scoped(Gateway, make(options))

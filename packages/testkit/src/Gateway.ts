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
import { type ClientMessage, Codec, type ProtocolError, ServerEvent, type Shapes } from "@diminuendo/protocol"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Agent from "./Agent.js"
import * as Workspace from "./Workspace.js"

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
  /** Advertise and echo `requestId` (design). Off: the gateway behaves like the seeds' (no ids). @default true */
  readonly requestIds?: boolean
  /** @default 30000; 0 sends no heartbeats */
  readonly heartbeatIntervalMs?: number
  /** Session events kept per session for replay; older ones are answered with `gap`. @default 1000 */
  readonly retention?: number
  /** Inbound frames larger than this get `error` `FRAME_TOO_LARGE`. @default 16 MiB */
  readonly maxFrameBytes?: number
  /** Frames queued for one connection; when full the connection is closed with 1013. @default 65536 */
  readonly outboundBuffer?: number
  /** Pause between agent steps (Effect Clock, so TestClock drives it). @default 0 */
  readonly agentStepMs?: number
  /** Extra agents by `agentType`, besides `echo` and `coding-agent`. */
  readonly agents?: Readonly<Record<string, Agent.Agent>>
  /** @default "diminuendo-testkit/0.1.0" */
  readonly serverVersion?: string
}

const defaultDevIdentity: Shapes.Identity = { userId: "dev-user", email: "dev@localhost", tenantId: "dev" }

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/**
 * Fault injection, for one connection or (on {@link Gateway.faults}) for all of them. Each call
 * changes what happens from then on; {@link Faults.clear} undoes them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /** Holds every outgoing event of this type for `ms` (Effect Clock) before sending it; later frames wait behind it. */
  readonly delay: (eventType: string, ms: number) => Effect.Effect<void>
  /** Never sends events of this type (a request that expects one hangs until its timeout). */
  readonly stall: (eventType: string) => Effect.Effect<void>
  /** Stops answering `ping` (no `pong`): a half-open connection as the client sees it. */
  readonly stopPongs: Effect.Effect<void>
  /** Sends each of the next `count` session events twice. */
  readonly duplicateSessionEvents: (count: number) => Effect.Effect<void>
  /** Swaps each of the next `count` pairs of session events. */
  readonly reorderSessionEvents: (count: number) => Effect.Effect<void>
  /** Removes every fault set through this handle. */
  readonly clear: Effect.Effect<void>
}

interface FaultState {
  readonly delays: Map<string, number>
  readonly stalls: Set<string>
  duplicates: number
  reorders: number
}

const makeFaultState = (): FaultState => ({ delays: new Map(), stalls: new Set(), duplicates: 0, reorders: 0 })

const faultsOf = (state: FaultState): Faults => ({
  delay: (eventType, ms) => Effect.sync(() => void state.delays.set(eventType, ms)),
  stall: (eventType) => Effect.sync(() => void state.stalls.add(eventType)),
  stopPongs: Effect.sync(() => void state.stalls.add("pong")),
  duplicateSessionEvents: (count) => Effect.sync(() => void (state.duplicates += count)),
  reorderSessionEvents: (count) => Effect.sync(() => void (state.reorders += count)),
  clear: Effect.sync(() => {
    state.delays.clear()
    state.stalls.clear()
    state.duplicates = 0
    state.reorders = 0
  })
})

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
  readonly faults: Faults
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
 * What a transport gets back from {@link Gateway.accept}: where to hand inbound frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface Accepted {
  /** Handles one inbound text frame. Frames of one connection must be handed over in order. */
  readonly receive: (frame: string) => Effect.Effect<void>
  readonly control: ConnectionControl
}

interface Outbound {
  readonly frame: string
  readonly type: string
  readonly sessionEvent: boolean
}

interface Conn {
  readonly id: string
  identity: Shapes.Identity | null
  role: string
  readonly joined: Set<string>
  readonly outbound: Queue.Queue<Outbound>
  readonly faults: FaultState
  readonly peer: Peer
  closed: boolean
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

interface Pending {
  readonly kind: "question" | "permission"
  readonly deferred: Deferred.Deferred<Agent.Answer>
}

interface Turn {
  readonly turnId: string
  readonly startedAt: number
  text: string
  status: "running" | "waiting" | "stopping"
  fiber: Fiber.RuntimeFiber<void, string> | undefined
  steers: Array<string>
  readonly pending: Map<string, Pending>
}

interface Session {
  meta: Shapes.SessionMeta
  /** The retained events, with the frame each was sent as (replays send the same bytes). */
  readonly log: Array<{ readonly event: ServerEvent.SessionEvent; readonly frame: string }>
  lastSeq: number
  readonly subscribers: Set<Conn>
  turn: Turn | null
  turns: number
  readonly history: Array<Shapes.HistoryMessage>
  readonly workspace: Workspace.Workspace
  sandbox: Shapes.SandboxInfo | null
  nextScript: Agent.Agent | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Gateway {
  readonly options: Required<
    Pick<GatewayOptions, "requiresAuth" | "requestIds" | "heartbeatIntervalMs" | "retention" | "maxFrameBytes">
  >
  /** Attaches a connection; it lives until the scope closes. Sends `welcome` and `connected`. */
  readonly accept: (peer: Peer) => Effect.Effect<Accepted, never, Scope.Scope>
  /** Faults applied to every connection, present and future. */
  readonly faults: Faults
  /** The live connections, oldest first. */
  readonly connections: Effect.Effect<ReadonlyArray<ConnectionControl>>
  /** Sends `server_shutdown` to every connection, then closes each with 1012 (service restart). */
  readonly shutdown: (reason: string, reconnectAfterMs?: number) => Effect.Effect<void>
  /** Forgets the retained events of a session with `seq <= throughSeq` (all by default): a later replay gets a `gap`. */
  readonly forgetEvents: (sessionId: string, throughSeq?: number) => Effect.Effect<void>
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

class RequestError {
  constructor(
    readonly code: string,
    readonly message: string
  ) {}
}

const fail = (code: string, message: string) => Effect.fail(new RequestError(code, message))

/** A workspace lookup's reply, or `FILE_NOT_FOUND` with `missing` when it found nothing. */
const found = <A, R>(value: A | undefined, missing: string, reply: (value: A) => R) =>
  value === undefined ? fail("FILE_NOT_FOUND", missing) : Effect.succeed(reply(value))

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
    const settings = {
      requiresAuth: options.requiresAuth ?? users.length > 0,
      requestIds: options.requestIds ?? true,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
      retention: Math.max(1, options.retention ?? 1000),
      maxFrameBytes: options.maxFrameBytes ?? Codec.defaultMaxFrameBytes
    }
    const outboundBuffer = options.outboundBuffer ?? 65_536
    const stepMs = options.agentStepMs ?? 0
    const devIdentity = options.devIdentity ?? defaultDevIdentity
    const agents: Record<string, Agent.Agent> = { ...Agent.builtIn, ...options.agents }
    const codec = Codec.makeGatewayCodec({ maxFrameBytes: settings.maxFrameBytes })
    const serverVersion = options.serverVersion ?? "diminuendo-testkit/0.1.0"

    const byToken = new Map(users.map((u) => [u.token, u]))
    const members = new Map<string, Map<string, Shapes.Member>>()
    const addMember = (identity: Shapes.Identity, role: string) => {
      let tenant = members.get(identity.tenantId)
      if (tenant === undefined) members.set(identity.tenantId, (tenant = new Map()))
      if (!tenant.has(identity.userId))
        tenant.set(identity.userId, { userId: identity.userId, email: identity.email, role })
    }
    for (const user of users) addMember(user.identity, user.role ?? "member")
    addMember(devIdentity, "owner")

    const sessions = new Map<string, Session>()
    const conns = new Map<string, Conn>()
    const gatewayFaults = makeFaultState()
    let connectionCounter = 0
    let sessionCounter = 0

    // ----- sending -----------------------------------------------------------------------------

    const enqueue = (conn: Conn, item: Outbound) => {
      if (conn.closed) return
      if (!conn.outbound.unsafeOffer(item)) {
        conn.closed = true
        Effect.runFork(conn.peer.close(1013, "outbound buffer full"))
      }
    }

    /**
     * Sends an event the gateway built itself. Those are valid by construction (the tests hold
     * every reply to the Schemas); one that is not would be a bug in this gateway, so it is logged
     * and dropped rather than sent.
     */
    const sendTo = (conn: Conn, event: ServerEvent.ServerEvent) => {
      const encoded = codec.encode(event)
      if (Either.isRight(encoded)) enqueue(conn, { frame: encoded.right, type: event.type, sessionEvent: false })
      else Effect.runFork(Effect.logError("testkit gateway built an invalid event", encoded.left.message))
    }

    const now = Clock.currentTimeMillis

    /** Appends a session event to the log and sends the same frame to every subscriber. */
    const emit = (session: Session, fields: { readonly type: string } & Record<string, unknown>) =>
      Effect.flatMap(now, (ts) => {
        const event = {
          ...fields,
          sessionId: session.meta.id,
          seq: session.lastSeq + 1,
          ts
        } as unknown as ServerEvent.SessionEvent
        const encoded = codec.encode(event)
        if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
        const frame = encoded.right
        session.lastSeq += 1
        session.log.push({ event, frame })
        if (session.log.length > settings.retention) session.log.shift()
        const item: Outbound = { frame, type: event.type, sessionEvent: true }
        for (const conn of session.subscribers) enqueue(conn, item)
        return Effect.void
      })

    const emitOrDie = (session: Session, fields: { readonly type: string } & Record<string, unknown>) =>
      Effect.orDie(emit(session, fields))

    const writer = (conn: Conn) => {
      let held: Outbound | undefined
      const rule = <A>(f: (state: FaultState) => A | undefined): A | undefined => f(conn.faults) ?? f(gatewayFaults)
      const write = (item: Outbound): Effect.Effect<void> => {
        if (conn.faults.stalls.has(item.type) || gatewayFaults.stalls.has(item.type)) return Effect.void
        const delay = rule((s) => s.delays.get(item.type))
        const send = conn.peer.write(item.frame)
        if (!item.sessionEvent) return delay === undefined ? send : Effect.zipRight(Effect.sleep(delay), send)
        const duplicates =
          conn.faults.duplicates > 0 ? conn.faults : gatewayFaults.duplicates > 0 ? gatewayFaults : undefined
        const reorders = conn.faults.reorders > 0 ? conn.faults : gatewayFaults.reorders > 0 ? gatewayFaults : undefined
        let out: Array<Outbound> = [item]
        if (reorders !== undefined) {
          if (held === undefined) {
            held = item
            return Effect.void
          }
          out = [item, held]
          held = undefined
          reorders.reorders -= 1
        }
        if (duplicates !== undefined) {
          duplicates.duplicates -= 1
          out = out.flatMap((o) => [o, o])
        }
        const sends = Effect.forEach(out, (o) => conn.peer.write(o.frame), { discard: true })
        return delay === undefined ? sends : Effect.zipRight(Effect.sleep(delay), sends)
      }
      return Effect.forever(Effect.flatMap(Queue.take(conn.outbound), write))
    }

    // ----- sessions ----------------------------------------------------------------------------

    const newSession = (tenantId: string, agentType: string, name: string | undefined) =>
      Effect.map(now, (ts) => {
        sessionCounter += 1
        const meta: Shapes.SessionMeta = {
          id: `sess-${sessionCounter}`,
          tenantId,
          name: name ?? null,
          agentType,
          status: "ready",
          archived: false,
          createdAt: ts,
          updatedAt: ts,
          lastActivityAt: null
        }
        sessions.set(meta.id, {
          meta,
          log: [],
          lastSeq: 0,
          subscribers: new Set(),
          turn: null,
          turns: 0,
          history: [],
          workspace: Workspace.make(),
          sandbox: null,
          nextScript: undefined
        })
        return meta
      })

    const sessionFor = (conn: Conn, sessionId: string) => {
      const session = sessions.get(sessionId)
      return session === undefined || session.meta.tenantId !== conn.identity?.tenantId
        ? fail("SESSION_NOT_FOUND", `Session ${sessionId} does not exist`)
        : Effect.succeed(session)
    }

    const touch = (session: Session, changes: Partial<Shapes.SessionMeta>) =>
      Effect.map(now, (ts) => {
        session.meta = { ...session.meta, ...changes, updatedAt: ts }
        return session.meta
      })

    const setStatus = (session: Session, status: Shapes.SessionStatus) =>
      Effect.zipRight(
        Effect.sync(() => {
          session.meta = { ...session.meta, status }
        }),
        emitOrDie(session, { type: "session_state", status })
      )

    // ----- turns -------------------------------------------------------------------------------

    const turnContext = (session: Session, turn: Turn, prompt: string): Agent.TurnContext => {
      const emitFromAgent = (event: Agent.EmittedEvent) =>
        Effect.gen(function* () {
          if (event.type === "text_delta" && typeof event.text === "string") turn.text += event.text
          if (event.type === "sandbox_ready" && typeof event.sandboxId === "string")
            session.sandbox = { sandboxId: event.sandboxId, status: "ready" }
          yield* emit(session, ServerEvent.turnEventTypes.has(event.type) ? { ...event, turnId: turn.turnId } : event)
        }).pipe(
          Effect.mapError((error: ProtocolError) => `invalid event from agent: ${error.message}`),
          Effect.orDie
        )
      const step = stepMs > 0 ? Effect.sleep(stepMs) : Effect.yieldNow()
      const waitFor = (kind: Pending["kind"], event: Agent.EmittedEvent) =>
        Effect.gen(function* () {
          const requestId = `${turn.turnId}-${kind}-${turn.pending.size + 1}`
          const deferred = yield* Deferred.make<Agent.Answer>()
          turn.pending.set(requestId, { kind, deferred })
          turn.status = "waiting"
          yield* emitFromAgent({ ...event, requestId })
          const answer = yield* Deferred.await(deferred)
          turn.status = "running"
          return answer
        })
      return {
        sessionId: session.meta.id,
        turnId: turn.turnId,
        prompt,
        emit: emitFromAgent,
        step,
        say: (text, chunk = 6) =>
          Effect.forEach(
            text.match(new RegExp(`[\\s\\S]{1,${Math.max(1, chunk)}}`, "g")) ?? [],
            (piece) => Effect.zipRight(step, emitFromAgent({ type: "text_delta", text: piece })),
            { discard: true }
          ),
        ask: (questions) => waitFor("question", { type: "question_requested", questions }),
        askPermission: (toolName, description, args) =>
          Effect.map(
            waitFor("permission", {
              type: "permission_requested",
              toolName,
              description,
              ...(args === undefined ? {} : { args })
            }),
            (answer) => !answer.dismissed && answer.answers.decision !== "deny"
          ),
        writeFile: (path, content) =>
          Effect.flatMap(now, (ts) => {
            const { iteration, change } = session.workspace.write(path, content, ts)
            return emitFromAgent({ type: "file_changed", path, change, iteration })
          }),
        steers: Effect.sync(() => turn.steers.splice(0))
      }
    }

    const startTurn = (session: Session, text: string, clientTurnId: string | undefined) =>
      Effect.gen(function* () {
        const agent = session.nextScript ?? agents[session.meta.agentType]
        session.nextScript = undefined
        if (agent === undefined) return yield* fail("UNKNOWN_AGENT", `No agent for ${session.meta.agentType}`)
        session.turns += 1
        const ts = yield* now
        const turn: Turn = {
          turnId: `${session.meta.id}-turn-${session.turns}`,
          startedAt: ts,
          text: "",
          status: "running",
          fiber: undefined,
          steers: [],
          pending: new Map()
        }
        session.turn = turn
        session.history.push({ id: `${turn.turnId}-user`, role: "user", content: text, createdAt: ts })
        session.meta = { ...session.meta, lastActivityAt: ts }
        yield* emitOrDie(session, {
          type: "turn_started",
          turnId: turn.turnId,
          ...(clientTurnId === undefined ? {} : { clientTurnId })
        })
        yield* setStatus(session, "running")
        const finish = (exit: Exit.Exit<void, string>) =>
          Effect.gen(function* () {
            if (!sessions.has(session.meta.id)) return
            if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) {
              const failure = exit.cause._tag === "Fail" ? exit.cause.error : "the agent crashed"
              yield* emitOrDie(session, {
                type: "turn_error",
                turnId: turn.turnId,
                code: "AGENT_ERROR",
                message: failure
              })
            } else {
              yield* emitOrDie(session, { type: "turn_complete", turnId: turn.turnId, finalText: turn.text })
            }
            const at = yield* now
            session.history.push({
              id: `${turn.turnId}-assistant`,
              role: "assistant",
              content: turn.text,
              createdAt: at
            })
            session.turn = null
            yield* setStatus(session, "ready")
          })
        turn.fiber = yield* agent(turnContext(session, turn, text)).pipe(Effect.onExit(finish), Effect.forkIn(scope))
      })

    // ----- requests ----------------------------------------------------------------------------

    type Reply = ServerEvent.ServerEvent | undefined

    const handle = (conn: Conn, message: ClientMessage.ClientMessage): Effect.Effect<Reply, RequestError> => {
      switch (message.type) {
        case "authenticate":
          return Effect.suspend((): Effect.Effect<Reply, RequestError> => {
            const user = byToken.get(message.token)
            if (user === undefined) {
              if (!settings.requiresAuth && (message.token === "" || conn.identity !== null)) {
                return Effect.succeed({ type: "authenticated", identity: conn.identity ?? devIdentity } as const)
              }
              return fail("AUTH_FAILED", "Authentication failed")
            }
            conn.identity = user.identity
            conn.role = members.get(user.identity.tenantId)?.get(user.identity.userId)?.role ?? "member"
            return Effect.succeed({ type: "authenticated", identity: user.identity } as const)
          })
        case "ping":
          return Effect.map(now, (serverTs) => ({ type: "pong", ts: message.ts, serverTs }) as const)
        case "list_sessions":
          return Effect.sync(
            () =>
              ({
                type: "session_list",
                sessions: [...sessions.values()]
                  .filter(
                    (s) =>
                      s.meta.tenantId === conn.identity!.tenantId &&
                      (message.includeArchived === true || !s.meta.archived)
                  )
                  .map((s) => s.meta)
              }) as const
          )
        case "create_session":
          return agents[message.agentType] === undefined
            ? fail("UNKNOWN_AGENT", `No agent for agentType ${message.agentType}`)
            : Effect.map(
                newSession(conn.identity!.tenantId, message.agentType, message.name),
                (session) => ({ type: "session_created", session }) as const
              )
        case "rename_session":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            Effect.map(touch(s, { name: message.name }), (session) => ({ type: "session_updated", session }) as const)
          )
        case "archive_session":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            Effect.map(touch(s, { archived: true }), (session) => ({ type: "session_archived", session }) as const)
          )
        case "unarchive_session":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            Effect.map(touch(s, { archived: false }), (session) => ({ type: "session_unarchived", session }) as const)
          )
        case "delete_session":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            Effect.gen(function* () {
              sessions.delete(s.meta.id)
              for (const subscriber of s.subscribers) subscriber.joined.delete(s.meta.id)
              if (s.turn?.fiber !== undefined) yield* Fiber.interrupt(s.turn.fiber)
              return { type: "session_deleted", sessionId: s.meta.id } as const
            })
          )
        case "join_session":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) => join(conn, s, message))
        case "leave_session":
          return Effect.sync(() => {
            sessions.get(message.sessionId)?.subscribers.delete(conn)
            conn.joined.delete(message.sessionId)
            return undefined
          })
        case "run_turn":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            s.meta.archived
              ? fail("SESSION_ARCHIVED", `Session ${s.meta.id} is archived`)
              : s.turn !== null
                ? fail("TURN_IN_PROGRESS", `Session ${s.meta.id} already has a turn running`)
                : Effect.as(startTurn(s, message.text, message.clientTurnId), undefined)
          )
        case "stop_turn":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            Effect.gen(function* () {
              const turn = s.turn
              yield* emitOrDie(s, { type: "stop_acknowledged", turnId: turn?.turnId ?? null })
              if (turn?.fiber !== undefined) {
                turn.status = "stopping"
                yield* Fiber.interrupt(turn.fiber)
              }
              return undefined
            })
          )
        case "steer":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            s.turn === null
              ? fail("NO_ACTIVE_TURN", `Session ${s.meta.id} has no turn running`)
              : Effect.sync(() => void s.turn!.steers.push(message.content)).pipe(
                  Effect.zipRight(emitOrDie(s, { type: "steer_sent", content: message.content })),
                  Effect.as(undefined)
                )
          )
        case "answer_question":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) => {
            const pending = s.turn?.pending.get(message.requestId)
            if (pending === undefined) return fail("QUESTION_NOT_FOUND", `No pending question ${message.requestId}`)
            s.turn!.pending.delete(message.requestId)
            const dismissed = message.dismissed === true
            const resolution = dismissed
              ? "dismissed"
              : pending.kind === "question"
                ? "answered"
                : message.answers.decision === "deny"
                  ? "denied"
                  : "approved"
            return emitOrDie(s, { type: "approval_resolved", requestId: message.requestId, resolution }).pipe(
              Effect.zipRight(Deferred.succeed(pending.deferred, { answers: message.answers, dismissed })),
              Effect.as(undefined)
            )
          })
        case "get_history":
          return Effect.map(sessionFor(conn, message.sessionId), (s) => {
            const skip = Math.max(0, message.afterSeq ?? 0)
            const limit = Math.min(message.limit ?? 50, 1000)
            return { type: "history", sessionId: s.meta.id, messages: s.history.slice(skip, skip + limit) } as const
          })
        case "get_events":
          return Effect.map(sessionFor(conn, message.sessionId), (s) => {
            const after = message.afterSeq ?? 0
            const limit = Math.min(message.limit ?? 200, 1000)
            return {
              type: "events",
              sessionId: s.meta.id,
              events: s.log
                .filter((e) => e.event.seq > after)
                .slice(0, limit)
                .map((e) => e.event)
            } as const
          })
        case "list_files":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) => {
            const path = message.path ?? ""
            return found(
              s.workspace.list(path, message.depth ?? 1),
              `No directory ${path}`,
              (entries) => ({ type: "file_list", sessionId: s.meta.id, path, entries }) as const
            )
          })
        case "read_file":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            found(
              s.workspace.read(message.path),
              `No file ${message.path}`,
              (content) =>
                ({
                  type: "file_content",
                  sessionId: s.meta.id,
                  path: message.path,
                  content,
                  encoding: "utf-8"
                }) as const
            )
          )
        case "file_history":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            found(
              s.workspace.history(message.path),
              `No file ${message.path}`,
              (versions) =>
                ({ type: "file_history_result", sessionId: s.meta.id, path: message.path, versions }) as const
            )
          )
        case "file_at_iteration":
          return Effect.flatMap(sessionFor(conn, message.sessionId), (s) =>
            found(
              s.workspace.readAt(message.path, message.iteration),
              `No file ${message.path} at iteration ${message.iteration}`,
              (content) =>
                ({
                  type: "file_content",
                  sessionId: s.meta.id,
                  path: message.path,
                  content,
                  encoding: "utf-8",
                  iteration: message.iteration
                }) as const
            )
          )
        case "manage_members":
          return Effect.suspend((): Effect.Effect<Reply, RequestError> => {
            const tenant = members.get(conn.identity!.tenantId) ?? new Map<string, Shapes.Member>()
            if (message.action === "list")
              return Effect.succeed({ type: "member_list", members: [...tenant.values()] } as const)
            if (conn.role !== "owner" && conn.role !== "admin") {
              return fail("FORBIDDEN", `Role ${conn.role} cannot ${message.action} members`)
            }
            if (message.userId === undefined)
              return fail("INVALID_MESSAGE", `manage_members.userId: is required for ${message.action}`)
            const member = tenant.get(message.userId)
            if (member === undefined) return fail("MEMBER_NOT_FOUND", `No member ${message.userId}`)
            if (message.action === "remove") {
              tenant.delete(message.userId)
              return Effect.succeed({ type: "member_removed", userId: message.userId } as const)
            }
            if (message.role === undefined)
              return fail("INVALID_MESSAGE", "manage_members.role: is required for set_role")
            const updated = { ...member, role: message.role }
            tenant.set(message.userId, updated)
            return Effect.succeed({ type: "member_updated", member: updated } as const)
          })
      }
    }

    const join = (conn: Conn, s: Session, message: ClientMessage.JoinSession) =>
      Effect.map(now, (ts): Reply => {
        // Everything below runs without yielding: no event can slip between replay and subscription.
        s.subscribers.add(conn)
        conn.joined.add(s.meta.id)
        const turn = s.turn
        const snapshot: ServerEvent.StateSnapshot = {
          type: "state_snapshot",
          sessionId: s.meta.id,
          session: s.meta,
          currentTurn:
            turn === null
              ? null
              : { turnId: turn.turnId, status: turn.status, text: turn.text, startedAt: turn.startedAt },
          recentHistory: s.history.slice(-20),
          subscriberCount: s.subscribers.size,
          sandbox: s.sandbox,
          lastSeq: s.lastSeq,
          ...requestIdField(message)
        }
        sendTo(conn, snapshot)
        if (message.afterSeq !== undefined) {
          const firstRetained = s.log[0]?.event.seq ?? s.lastSeq + 1
          if (message.afterSeq + 1 < firstRetained && message.afterSeq < s.lastSeq) {
            sendTo(conn, {
              type: "gap",
              sessionId: s.meta.id,
              fromSeq: Math.max(0, message.afterSeq + 1),
              toSeq: firstRetained - 1,
              ...requestIdField(message)
            })
          }
          for (const { event, frame } of s.log) {
            if (event.seq > message.afterSeq) enqueue(conn, { frame, type: event.type, sessionEvent: true })
          }
          sendTo(conn, {
            type: "replay_complete",
            sessionId: s.meta.id,
            lastSeq: s.lastSeq,
            ...requestIdField(message)
          })
        } else if (turn !== null) {
          sendTo(conn, {
            type: "stream_snapshot",
            sessionId: s.meta.id,
            turnId: turn.turnId,
            text: turn.text,
            seq: s.lastSeq,
            ts
          })
        }
        return undefined
      })

    const requestIdField = (message: ClientMessage.ClientMessage): { requestId?: string } =>
      settings.requestIds && message.requestId !== undefined && message.type !== "answer_question"
        ? { requestId: message.requestId }
        : {}

    const receive = (conn: Conn) => (frame: string) =>
      Effect.suspend(() => {
        if (conn.closed) return Effect.void
        const decoded = codec.decode(frame)
        if (Either.isLeft(decoded)) {
          const error = decoded.left
          const code =
            error.reason === "UnknownType"
              ? "UNKNOWN_TYPE"
              : error.reason === "FrameTooLarge"
                ? "FRAME_TOO_LARGE"
                : "INVALID_MESSAGE"
          sendTo(conn, {
            type: "error",
            code,
            message: error.message,
            ...(error.messageType === undefined ? {} : { requestType: error.messageType })
          })
          return Effect.void
        }
        const message = decoded.right
        if (conn.identity === null && message.type !== "authenticate" && message.type !== "ping") {
          return Effect.sync(() => sendError(conn, message, new RequestError("AUTH_REQUIRED", "Authenticate first")))
        }
        return handle(conn, message).pipe(
          Effect.match({
            onFailure: (error) => sendError(conn, message, error),
            onSuccess: (reply) => {
              if (reply !== undefined) sendTo(conn, { ...reply, ...requestIdField(message) } as ServerEvent.ServerEvent)
            }
          })
        )
      })

    const sendError = (conn: Conn, message: ClientMessage.ClientMessage, error: RequestError) => {
      const correlation =
        message.type === "answer_question"
          ? settings.requestIds
            ? { requestId: message.requestId }
            : {}
          : requestIdField(message)
      sendTo(conn, {
        type: "error",
        code: error.code,
        message: error.message,
        requestType: message.type,
        ...("sessionId" in message ? { sessionId: message.sessionId } : {}),
        ...correlation
      })
    }

    // ----- connections -------------------------------------------------------------------------

    const controlOf = (conn: Conn): ConnectionControl => ({
      id: conn.id,
      identity: () => conn.identity,
      joined: () => [...conn.joined],
      faults: faultsOf(conn.faults),
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
        Effect.sync(() =>
          sendTo(conn, {
            type: "server_shutdown",
            reason,
            ...(reconnectAfterMs === undefined ? {} : { reconnectAfterMs })
          })
        )
    })

    const accept = (peer: Peer): Effect.Effect<Accepted, never, Scope.Scope> =>
      Effect.gen(function* () {
        connectionCounter += 1
        const conn: Conn = {
          id: `conn-${connectionCounter}`,
          identity: settings.requiresAuth ? null : devIdentity,
          role: "owner",
          joined: new Set(),
          outbound: yield* Queue.dropping<Outbound>(outboundBuffer),
          faults: makeFaultState(),
          peer,
          closed: false
        }
        conns.set(conn.id, conn)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            conn.closed = true
            conns.delete(conn.id)
            for (const sessionId of conn.joined) sessions.get(sessionId)?.subscribers.delete(conn)
          })
        )
        yield* Effect.forkScoped(writer(conn))
        const ts = yield* now
        sendTo(conn, {
          type: "welcome",
          serverVersion,
          protocolVersion: 1,
          requiresAuth: settings.requiresAuth,
          ...(settings.heartbeatIntervalMs > 0 ? { heartbeatIntervalMs: settings.heartbeatIntervalMs } : {}),
          features: settings.requestIds ? ["requestId"] : []
        })
        sendTo(conn, { type: "connected", connectionId: conn.id, ts })
        if (!settings.requiresAuth) sendTo(conn, { type: "authenticated", identity: devIdentity })
        if (settings.heartbeatIntervalMs > 0) {
          yield* Effect.forkScoped(
            Effect.flatMap(now, (ts) => Effect.sync(() => sendTo(conn, { type: "heartbeat", ts }))).pipe(
              Effect.repeat(Schedule.spaced(settings.heartbeatIntervalMs)),
              Effect.delay(settings.heartbeatIntervalMs)
            )
          )
        }
        return { receive: receive(conn), control: controlOf(conn) }
      })

    const gateway: Gateway = {
      options: settings,
      accept,
      faults: faultsOf(gatewayFaults),
      connections: Effect.sync(() => [...conns.values()].map(controlOf)),
      shutdown: (reason, reconnectAfterMs) =>
        Effect.forEach(
          [...conns.values()],
          (conn) =>
            Effect.gen(function* () {
              sendTo(conn, {
                type: "server_shutdown",
                reason,
                ...(reconnectAfterMs === undefined ? {} : { reconnectAfterMs })
              })
              // Let the writer flush what is queued (the shutdown notice included) before closing.
              yield* Effect.repeat(Effect.zipRight(Effect.yieldNow(), Queue.size(conn.outbound)), {
                until: (size) => size === 0,
                times: 10_000
              })
              conn.closed = true
              yield* conn.peer.close(1012, reason)
            }),
          { discard: true }
        ),
      forgetEvents: (sessionId, throughSeq) =>
        Effect.sync(() => {
          const s = sessions.get(sessionId)
          if (s === undefined) return
          const limit = throughSeq ?? s.lastSeq
          while (s.log.length > 0 && s.log[0]!.event.seq <= limit) s.log.shift()
        }),
      scriptNextTurn: (sessionId, events) =>
        Effect.sync(() => {
          const s = sessions.get(sessionId)
          if (s !== undefined) s.nextScript = Agent.script(events)
        }),
      sessionLog: (sessionId) => Effect.sync(() => (sessions.get(sessionId)?.log ?? []).map((e) => e.event)),
      createSession: (tenantId, agentType, name) => newSession(tenantId, agentType, name)
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

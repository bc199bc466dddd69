/**
 * The gateway's sessions: metadata per tenant, each session's ordered event log (a ring buffer of
 * the last `retention` events, each kept with the frame it was sent as), subscribers, and joining:
 * the snapshot, then a replay with a `gap` for what is no longer retained.
 *
 * @internal
 */
import type { ClientMessage, Codec, ProtocolError, ServerEvent, Shapes } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Agent from "../Agent.js"
import * as Workspace from "../Workspace.js"
import * as Connection from "./connection.js"
import type { Turn } from "./turns.js"

/** The fields of a session event the gateway fills in itself. */
type Filled = "sessionId" | "seq" | "ts"
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A session event as the gateway builds it, before `sessionId`, `seq` and `ts`. */
export type EventFields = DistributiveOmit<ServerEvent.SessionEvent, Filled>

export interface Entry {
  readonly event: ServerEvent.SessionEvent
  readonly frame: string
}

/** The fewest slots a log's ring holds once it has an entry. */
const minSlots = 16

/**
 * The last entries of a log: at most `capacity` of them, and at most `maxBytes` of frames. Its
 * slots grow with what it holds (doubling, up to `capacity`) and shrink when it empties (halving
 * below a quarter full), so a session costs what its log holds, never `capacity` slots up front:
 * `retention` is a bound, not an allocation (8 bytes a slot: 8 MB a session at retention 1,000,000).
 */
export class Ring {
  private entries: Array<Entry | undefined> = []
  private start = 0
  size = 0
  bytes = 0
  constructor(
    readonly capacity: number,
    readonly maxBytes: number
  ) {}
  /** The slots allocated: none while empty, else at most `capacity` and at most 16 or 4 times what is held. */
  get slots(): number {
    return this.entries.length
  }
  push(entry: Entry) {
    if (this.size === this.capacity) this.dropOldest()
    if (this.size === this.entries.length)
      this.resize(Math.min(this.capacity, Math.max(minSlots, this.entries.length * 2)))
    this.entries[(this.start + this.size) % this.entries.length] = entry
    this.size += 1
    this.bytes += entry.frame.length
    while (this.bytes > this.maxBytes && this.size > 1) this.dropOldest()
  }
  private dropOldest() {
    this.bytes -= this.entries[this.start]!.frame.length
    this.entries[this.start] = undefined
    this.start = (this.start + 1) % this.entries.length
    this.size -= 1
    if (this.size === 0) this.clear()
    else if (this.entries.length > minSlots && this.size < this.entries.length / 4)
      this.resize(Math.max(minSlots, Math.floor(this.entries.length / 2)))
  }
  /** Moves the entries, oldest first, to a new array of `slots` slots (at least `size`). */
  private resize(slots: number) {
    const next: Array<Entry | undefined> = new Array(slots)
    for (let i = 0; i < this.size; i++) next[i] = this.entries[(this.start + i) % this.entries.length]
    this.entries = next
    this.start = 0
  }
  /** Drops the oldest entries while `drop` holds for them. */
  dropWhile(drop: (entry: Entry) => boolean) {
    while (this.size > 0 && drop(this.entries[this.start]!)) this.dropOldest()
  }
  clear() {
    this.entries = []
    this.start = 0
    this.size = 0
    this.bytes = 0
  }
  first(): Entry | undefined {
    return this.size === 0 ? undefined : this.entries[this.start]
  }
  *[Symbol.iterator](): IterableIterator<Entry> {
    for (let i = 0; i < this.size; i++) yield this.entries[(this.start + i) % this.entries.length]!
  }
}

export interface Session {
  meta: Shapes.SessionMeta
  readonly log: Ring
  lastSeq: number
  readonly subscribers: Set<Connection.Conn>
  turn: Turn | null
  turns: number
  /** Messages with the `seq` of the last event when each was recorded (for `get_history.afterSeq`). */
  readonly history: Array<{ readonly message: Shapes.HistoryMessage; readonly seq: number }>
  readonly workspace: Workspace.Workspace
  sandbox: Shapes.SandboxInfo | null
  nextScript: Agent.Agent | undefined
}

export interface Sessions {
  readonly create: (tenantId: string, agentType: string, name: string | undefined) => Effect.Effect<Shapes.SessionMeta>
  readonly get: (sessionId: string) => Session | undefined
  readonly list: (tenantId: string, includeArchived: boolean) => ReadonlyArray<Shapes.SessionMeta>
  readonly delete: (session: Session) => void
  /** Appends a session event to the log and sends the same frame to every subscriber. */
  readonly emit: (session: Session, fields: EventFields) => Effect.Effect<void, ProtocolError>
  readonly update: (session: Session, changes: Partial<Shapes.SessionMeta>) => Effect.Effect<Shapes.SessionMeta>
  readonly setStatus: (session: Session, status: Shapes.SessionStatus) => Effect.Effect<void, ProtocolError>
  /** Subscribes `conn` and sends the snapshot, then the replay (with `afterSeq`) or the turn so far. */
  readonly join: (conn: Connection.Conn, session: Session, message: ClientMessage.JoinSession) => Effect.Effect<void>
  readonly leave: (conn: Connection.Conn, sessionId: string) => void
  readonly forget: (sessionId: string, throughSeq: number | undefined) => void
  /** Empties the log and starts `seq` over from 1, as a gateway that lost its log on a failover. */
  readonly restart: (sessionId: string) => void
  readonly log: (sessionId: string) => ReadonlyArray<ServerEvent.SessionEvent>
  readonly record: (session: Session, message: Shapes.HistoryMessage) => void
}

export const make = (options: {
  readonly codec: Codec.GatewayCodec
  readonly retention: number
  readonly retentionBytes: number
  readonly now: Effect.Effect<number>
  /** The correlation fields a reply to `message` carries (none when the gateway does not echo ids). */
  readonly correlate: (message: ClientMessage.ClientMessage) => { readonly requestId?: string }
  /** An event as it leaves the gateway (the seed profile strips this project's additions). */
  readonly outgoing: <E extends ServerEvent.ServerEvent>(event: E) => E
  /** A new session id, unguessable. */
  readonly newId: () => string
  /** The most message text a snapshot's `recentHistory` carries (so the snapshot fits a frame). */
  readonly historyChars: number
}): Sessions => {
  const { codec, now } = options
  const sessions = new Map<string, Session>()

  const emit: Sessions["emit"] = (session, fields) =>
    Effect.flatMap(now, (ts) => {
      const event = options.outgoing({
        ...fields,
        sessionId: session.meta.id,
        seq: session.lastSeq + 1,
        ts
      } as ServerEvent.SessionEvent)
      const encoded = codec.encode(event)
      if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
      const frame = encoded.right
      session.lastSeq += 1
      session.log.push({ event, frame })
      const item = { frame, type: event.type, sessionEvent: true }
      for (const conn of session.subscribers) Connection.enqueue(conn, item)
      return Effect.void
    })

  const update: Sessions["update"] = (session, changes) =>
    Effect.map(now, (ts) => {
      session.meta = { ...session.meta, ...changes, updatedAt: ts }
      return session.meta
    })

  /** The last messages (at most 20) whose text fits the snapshot's budget. */
  const recent = (s: Session): Array<Shapes.HistoryMessage> => {
    const out: Array<Shapes.HistoryMessage> = []
    let chars = 0
    for (let i = s.history.length - 1; i >= 0 && out.length < 20; i--) {
      const message = s.history[i]!.message
      chars += message.content.length
      if (chars > options.historyChars) break
      out.unshift(message)
    }
    return out
  }

  return {
    create: (tenantId, agentType, name) =>
      Effect.map(now, (ts) => {
        const meta: Shapes.SessionMeta = {
          id: options.newId(),
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
          log: new Ring(options.retention, options.retentionBytes),
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
      }),
    get: (sessionId) => sessions.get(sessionId),
    list: (tenantId, includeArchived) =>
      [...sessions.values()]
        .filter((s) => s.meta.tenantId === tenantId && (includeArchived || !s.meta.archived))
        .map((s) => s.meta),
    delete: (session) => {
      sessions.delete(session.meta.id)
      for (const subscriber of session.subscribers) subscriber.joined.delete(session.meta.id)
    },
    emit,
    update,
    setStatus: (session, status) =>
      Effect.zipRight(
        Effect.sync(() => {
          session.meta = { ...session.meta, status }
        }),
        emit(session, { type: "session_state", status })
      ),
    join: (conn, s, message) =>
      Effect.flatMap(now, (ts) => {
        // Everything below runs without yielding: no event can slip between replay and subscription.
        const failures: Array<ProtocolError | undefined> = []
        const send = (event: ServerEvent.ServerEvent) => failures.push(Connection.send(codec, conn, event))
        s.subscribers.add(conn)
        conn.joined.add(s.meta.id)
        const turn = s.turn
        send({
          type: "state_snapshot",
          sessionId: s.meta.id,
          session: s.meta,
          currentTurn:
            turn === null
              ? null
              : { turnId: turn.turnId, status: turn.status, text: turn.text, startedAt: turn.startedAt },
          recentHistory: recent(s),
          subscriberCount: s.subscribers.size,
          sandbox: s.sandbox,
          lastSeq: s.lastSeq,
          ...options.correlate(message)
        })
        if (message.afterSeq !== undefined) {
          const firstRetained = s.log.first()?.event.seq ?? s.lastSeq + 1
          if (message.afterSeq + 1 < firstRetained && message.afterSeq < s.lastSeq) {
            send({
              type: "gap",
              sessionId: s.meta.id,
              fromSeq: Math.max(0, message.afterSeq + 1),
              toSeq: firstRetained - 1,
              ...options.correlate(message)
            })
          }
          for (const { event, frame } of s.log) {
            if (event.seq > message.afterSeq) Connection.enqueue(conn, { frame, type: event.type, sessionEvent: true })
          }
          send({ type: "replay_complete", sessionId: s.meta.id, lastSeq: s.lastSeq, ...options.correlate(message) })
        } else if (turn !== null) {
          send({
            type: "stream_snapshot",
            sessionId: s.meta.id,
            turnId: turn.turnId,
            text: turn.text,
            seq: s.lastSeq,
            ts
          })
        }
        return Effect.forEach(failures, Connection.logInvalid, { discard: true })
      }),
    leave: (conn, sessionId) => {
      sessions.get(sessionId)?.subscribers.delete(conn)
      conn.joined.delete(sessionId)
    },
    forget: (sessionId, throughSeq) => {
      const s = sessions.get(sessionId)
      if (s === undefined) return
      const limit = throughSeq ?? s.lastSeq
      s.log.dropWhile((entry) => entry.event.seq <= limit)
    },
    restart: (sessionId) => {
      const s = sessions.get(sessionId)
      if (s === undefined) return
      s.log.clear()
      s.lastSeq = 0
    },
    log: (sessionId) => {
      const s = sessions.get(sessionId)
      return s === undefined ? [] : [...s.log].map((e) => e.event)
    },
    record: (session, message) => void session.history.push({ message, seq: session.lastSeq })
  }
}

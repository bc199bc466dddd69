/**
 * The client's public methods over its parts: each request method builds its message and waits
 * through `requests`; streams subscribe through `sessions` and the event fan-outs.
 *
 * @internal
 */
import { ClientMessage, type Codec, Correlation, type ServerEvent } from "@diminuendo/protocol"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { Diagnostic } from "../Diagnostic.js"
import type { Fields, GatewayClient, GatewayClientOptions } from "../GatewayClient.js"
import { GatewayError } from "../GatewayError.js"
import * as SessionState from "../SessionState.js"
import type * as Broadcast from "./broadcast.js"
import type { Requests } from "./requests.js"
import type { Sessions } from "./sessions.js"
import type { Supervisor } from "./supervisor.js"

/** Drops the keys whose value is `undefined` (the Schemas' optional fields are exact). */
const defined = <const A extends object>(
  fields: A
): { [K in keyof A as undefined extends A[K] ? never : K]: A[K] } & {
  [K in keyof A as undefined extends A[K] ? K : never]?: Exclude<A[K], undefined>
} => {
  const out: Record<string, unknown> = {}
  for (const key in fields) if (fields[key] !== undefined) out[key] = fields[key]
  return out as any
}

export interface MethodsDeps {
  readonly clock: Clock.Clock
  readonly codec: Codec.ClientCodec
  readonly bounds: Broadcast.Bounds
  readonly requests: Requests
  readonly sessions: Sessions
  readonly supervisor: Supervisor
  readonly events: Broadcast.Broadcast<ServerEvent.ServerEvent>
  readonly diagnostics: Broadcast.Broadcast<Diagnostic>
  /** The token for reconnects, and what `refreshToken` replaces. */
  readonly token: () => GatewayClientOptions["token"]
  readonly setToken: (token: Redacted.Redacted<string>) => void
  readonly resolveToken: (
    token: GatewayClientOptions["token"]
  ) => Effect.Effect<Redacted.Redacted<string> | undefined, GatewayError>
}

export const make = (deps: MethodsDeps): GatewayClient => {
  const { bounds, clock, codec, diagnostics, events, requests, sessions, supervisor } = deps
  // ----- requests ------------------------------------------------------------------------------

  /** Sends a request (parked while reconnecting) and waits for the event that settles it. */
  const exchange = (message: ClientMessage.ClientMessage) => requests.exchange(message, supervisor.current)

  const send = <T extends ClientMessage.Type>(message: ClientMessage.ByType<T>) =>
    exchange(message) as Effect.Effect<Correlation.ReplyOf<T>, GatewayError>

  const joinSession = (sessionId: string, afterSeq?: number) =>
    Effect.suspend(() => {
      // A join that fails undoes only what it did: a session already followed stays followed.
      const joinedBefore = sessions.isJoined(sessionId)
      sessions.join(sessionId, afterSeq)
      const resumeFrom = sessions.lastSeq(sessionId) ?? afterSeq
      return send<"join_session">(defined({ type: "join_session", sessionId, afterSeq: resumeFrom })).pipe(
        Effect.tapError(() => (joinedBefore ? Effect.void : Effect.sync(() => sessions.leave(sessionId))))
      )
    })

  const ensureJoined = (sessionId: string) =>
    Effect.suspend(() => (sessions.isJoined(sessionId) ? Effect.void : Effect.asVoid(joinSession(sessionId))))

  /** A fire-and-forget message, confirmed by a session event of its session (joined first). */
  const confirmed = <T extends Correlation.ConfirmedType>(message: ClientMessage.ByType<T>) => {
    const { sessionId } = message as { readonly sessionId: string }
    // Not while the session is joined again after its log restarted: its replay may confirm it.
    return Effect.zipRight(
      Effect.zipRight(ensureJoined(sessionId), sessions.afterRejoin(sessionId)),
      exchange(message)
    ) as Effect.Effect<Correlation.ConfirmationOf<T>, GatewayError>
  }

  const leaveSession = (sessionId: string) =>
    Effect.gen(function* () {
      sessions.leave(sessionId)
      const link = yield* supervisor.awaitLink
      const frame = codec.encode({ type: "leave_session", sessionId })
      if (frame._tag === "Left") {
        return yield* new GatewayError({ reason: "ProtocolError", message: frame.left.message, cause: frame.left })
      }
      yield* Effect.mapError(
        link.connection.send(frame.right),
        (cause) =>
          new GatewayError({
            reason: "ConnectionLost",
            message: `could not send leave_session: ${cause.message}`,
            requestType: "leave_session",
            cause
          })
      )
    })

  const request = <T extends ClientMessage.Type>(message: ClientMessage.ByType<T>) => {
    const m: ClientMessage.ClientMessage = message
    return (
      m.type === "leave_session"
        ? leaveSession(m.sessionId)
        : m.type === "join_session"
          ? joinSession(m.sessionId, m.afterSeq)
          : Correlation.isConfirmed(m.type)
            ? confirmed(m as ClientMessage.ByType<Correlation.ConfirmedType>)
            : exchange(m)
    ) as Effect.Effect<Correlation.OutcomeOf<T>, GatewayError>
  }

  const answerQuestion = (
    sessionId: string,
    requestId: string,
    answers: Readonly<Record<string, string>>,
    dismissed?: boolean
  ) => confirmed<"answer_question">(defined({ type: "answer_question", sessionId, requestId, answers, dismissed }))

  // The id is made when the Effect runs: each run of a stored `runTurn` is its own turn.
  const runTurn = (sessionId: string, text: string, clientTurnId?: string) =>
    Effect.suspend(() =>
      confirmed<"run_turn">({
        type: "run_turn",
        sessionId,
        text,
        clientTurnId: clientTurnId ?? `turn-${Math.random().toString(36).slice(2, 10)}`
      })
    )

  // ----- streams -------------------------------------------------------------------------------

  // Built when read, not per client: an idle client holds none of them.
  const subscribe = () => Stream.unwrapScoped(events.subscribeScoped(bounds))
  const sessionEvents = (sessionId: string) => Stream.unwrapScoped(sessions.subscribe(sessionId, bounds))

  const turn = (sessionId: string, text: string) =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        yield* ensureJoined(sessionId)
        // Subscribed before the turn starts, so none of its events can be missed.
        const items = yield* sessions.subscribe(sessionId, bounds)
        const started = yield* runTurn(sessionId, text)
        let inTurn = false
        let ended = false
        return items.pipe(
          // From the turn's first event on: its `turn_started`, or, should that one have been dropped
          // (a gateway that reordered it before the session's first event), the next of its events.
          Stream.filter((item) => {
            if (!inTurn && (item as { readonly turnId?: unknown }).turnId === started.turnId) inTurn = true
            return inTurn
          }),
          Stream.takeUntil(
            (item) =>
              (ended = (item.type === "turn_complete" || item.type === "turn_error") && item.turnId === started.turnId)
          ),
          // The session's stream ends early only when the client closes: a turn cut off is no success.
          Stream.concat(
            Stream.suspend(() =>
              ended
                ? Stream.empty
                : Stream.fail(
                    new GatewayError({
                      reason: "Closed",
                      message: "the client closed before the turn ended",
                      requestType: "run_turn"
                    })
                  )
            )
          ),
          // The turn's failure, or events of the session lost (a gap) or its log restarted (a
          // reset) while it ran: its end may be among them, so waiting for it could be forever.
          Stream.mapEffect((item) => {
            if (item.type === "turn_error" && item.turnId === started.turnId) {
              return Effect.fail(
                new GatewayError({
                  reason: "TurnFailed",
                  message: `${item.code}: ${item.message}`,
                  code: item.code,
                  requestType: "run_turn"
                })
              )
            }
            if (item.type === "gap" || item.type === "reset") {
              return Effect.fail(
                new GatewayError({
                  reason: "ConnectionLost",
                  message:
                    item.type === "gap"
                      ? `events ${item.fromSeq} to ${item.toSeq} of the session were lost while the turn ran (the gateway no longer had them); whether it ended is unknown`
                      : `the session's log restarted (seq ${item.previousSeq} -> ${item.seq}) while the turn ran; whether it ended is unknown`,
                  requestType: "run_turn"
                })
              )
            }
            return Effect.succeed(item)
          })
        )
      })
    )

  const client: GatewayClient = {
    state: supervisor.state.subscribable,
    identity: Effect.sync(() => Option.fromNullable(supervisor.identity())),
    get events() {
      return subscribe()
    },
    eventsOf: (type) => Stream.filter(subscribe(), (e): e is ServerEvent.ByType<typeof type> => e.type === type),
    sessionEvents,
    subscribeSession: (sessionId) => sessions.subscribe(sessionId, bounds),
    get subscribeEvents() {
      return events.subscribeScoped(bounds)
    },
    sessionState: (sessionId) => SessionState.track(client, sessionId),
    get diagnostics() {
      return Stream.unwrapScoped(diagnostics.subscribeScoped(bounds))
    },
    request,
    listSessions: (includeArchived) =>
      Effect.map(send<"list_sessions">(defined({ type: "list_sessions", includeArchived })), (r) => r.sessions),
    createSession: (agentType, name) =>
      Effect.map(send<"create_session">(defined({ type: "create_session", agentType, name })), (r) => r.session),
    renameSession: (sessionId, name) =>
      Effect.map(send<"rename_session">({ type: "rename_session", sessionId, name }), (r) => r.session),
    archiveSession: (sessionId) =>
      Effect.map(send<"archive_session">({ type: "archive_session", sessionId }), (r) => r.session),
    unarchiveSession: (sessionId) =>
      Effect.map(send<"unarchive_session">({ type: "unarchive_session", sessionId }), (r) => r.session),
    deleteSession: (sessionId) =>
      Effect.zipRight(
        send<"delete_session">({ type: "delete_session", sessionId }),
        Effect.sync(() => sessions.leave(sessionId))
      ),
    joinSession,
    leaveSession,
    runTurn,
    turn,
    stopTurn: (sessionId) => confirmed<"stop_turn">({ type: "stop_turn", sessionId }),
    steer: (sessionId, content) => confirmed<"steer">({ type: "steer", sessionId, content }),
    answerQuestion,
    answer: (sessionId, requestId, answers) => answerQuestion(sessionId, requestId, answers),
    approve: (sessionId, requestId) => answerQuestion(sessionId, requestId, ClientMessage.permissionAnswers("approve")),
    deny: (sessionId, requestId) => answerQuestion(sessionId, requestId, ClientMessage.permissionAnswers("deny")),
    getHistory: (fields) =>
      Effect.map(send<"get_history">(defined({ type: "get_history", ...fields })), (r) => r.messages),
    getEvents: (fields) => Effect.map(send<"get_events">(defined({ type: "get_events", ...fields })), (r) => r.events),
    ping: Effect.suspend(() => {
      const start = clock.unsafeCurrentTimeMillis()
      return Effect.map(send<"ping">({ type: "ping", ts: start }), () => ({
        latencyMs: clock.unsafeCurrentTimeMillis() - start
      }))
    }),
    listFiles: (fields) => Effect.map(send<"list_files">(defined({ type: "list_files", ...fields })), (r) => r.entries),
    readFile: (sessionId, path) => send<"read_file">({ type: "read_file", sessionId, path }),
    fileHistory: (sessionId, path) =>
      Effect.map(send<"file_history">({ type: "file_history", sessionId, path }), (r) => r.versions),
    fileAtIteration: (sessionId, path, iteration) =>
      send<"file_at_iteration">({ type: "file_at_iteration", sessionId, path, iteration }),
    manageMembers: <A extends ClientMessage.ManageMembers["action"]>(
      fields: Fields<"manage_members"> & { readonly action: A }
    ) =>
      send<"manage_members">(
        defined<ClientMessage.ManageMembers>({ ...fields, type: "manage_members" })
      ) as Effect.Effect<Correlation.MemberReplyOf<A>, GatewayError>,
    refreshToken: (fresh) =>
      Effect.gen(function* () {
        if (fresh !== undefined) deps.setToken(fresh)
        const secret = yield* deps.resolveToken(deps.token())
        if (secret === undefined)
          return yield* new GatewayError({ reason: "AuthRequired", message: "refreshToken needs a token" })
        const reply = yield* send<"authenticate">({ type: "authenticate", token: Redacted.value(secret) })
        yield* supervisor.setIdentity(reply.identity)
        return reply.identity
      })
  }
  return client
}

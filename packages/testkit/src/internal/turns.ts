/**
 * Turns: starting one (an agent runs as a fiber), what the agent can do while it runs (emit events,
 * ask questions and permissions and wait for the answers, write files, read steers), stopping it,
 * and how it ends (`turn_complete` with the text so far, or `turn_error`).
 *
 * @internal
 */
import { ClientMessage, ErrorCode, type ProtocolError, ServerEvent } from "@diminuendo/protocol"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as Agent from "../Agent.js"
import { RequestError } from "./requestError.js"
import type { EventFields, Session, Sessions } from "./sessions.js"

interface Pending {
  readonly kind: "question" | "permission"
  readonly deferred: Deferred.Deferred<Agent.Answer>
}

export interface Turn {
  readonly turnId: string
  readonly startedAt: number
  text: string
  status: "running" | "waiting" | "stopping"
  fiber: Fiber.RuntimeFiber<void, string> | undefined
  readonly steers: Array<string>
  readonly pending: Map<string, Pending>
}

/** Why a turn whose text outgrew what its end event can carry was ended. */
const tooLarge = "the turn's text exceeds what one frame can carry"

/** The `turn_error` of an agent that failed (its error), died (a defect), or outgrew the text limit. */
const whyFailed = (cause: Cause.Cause<string>): { code: ErrorCode.ErrorCode; message: string } => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return { code: ErrorCode.ErrorCodes.AgentError, message: failure.value }
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some" && defect.value === tooLarge) {
    return { code: ErrorCode.ErrorCodes.TurnTooLarge, message: tooLarge }
  }
  return {
    code: ErrorCode.ErrorCodes.AgentError,
    message: defect._tag === "Some" && typeof defect.value === "string" ? defect.value : "the agent crashed"
  }
}

export interface Turns {
  readonly start: (
    session: Session,
    text: string,
    clientTurnId: string | undefined
  ) => Effect.Effect<void, RequestError>
  /** Acknowledges a stop and ends the running turn, if any. */
  readonly stop: (session: Session) => Effect.Effect<void, RequestError>
  readonly steer: (session: Session, content: string) => Effect.Effect<void, RequestError>
  readonly answer: (
    session: Session,
    requestId: string,
    answers: Readonly<Record<string, string>>,
    dismissed: boolean
  ) => Effect.Effect<void, RequestError>
  readonly interrupt: (session: Session) => Effect.Effect<void>
}

export const make = (options: {
  readonly sessions: Sessions
  readonly agents: Readonly<Record<string, Agent.Agent>>
  readonly stepMs: number
  readonly now: Effect.Effect<number>
  /** Where agents run (the gateway's scope). */
  readonly scope: Scope.Scope
  /** The `clientTurnId` echo is one of this project's additions; a seed-profile gateway leaves it out. */
  readonly echoClientTurnId: boolean
  /** The most text a turn may accumulate (its `turn_complete` must fit a frame). */
  readonly maxTextChars: number
}): Turns => {
  const { now, sessions } = options
  /** An event a request makes the gateway emit: one that cannot be sent is the sender's error. */
  const emitFor = (session: Session, fields: EventFields) =>
    Effect.mapError(
      sessions.emit(session, fields),
      (error) => new RequestError({ code: ErrorCode.fromProtocolError(error), message: error.message })
    )

  const context = (session: Session, turn: Turn, prompt: string): Agent.TurnContext => {
    const emit = (event: Agent.EmittedEvent) =>
      Effect.gen(function* () {
        if (event.type === "text_delta") {
          if (turn.text.length + event.text.length > options.maxTextChars) return yield* Effect.die(tooLarge)
          turn.text += event.text
        }
        if (event.type === "sandbox_ready") session.sandbox = { sandboxId: event.sandboxId, status: "ready" }
        const fields = (
          ServerEvent.turnEventTypes.has(event.type) ? { ...event, turnId: turn.turnId } : event
        ) as EventFields
        yield* sessions.emit(session, fields)
      }).pipe(
        Effect.mapError((error: ProtocolError) => `invalid event from agent: ${error.message}`),
        Effect.orDie
      )
    const step = options.stepMs > 0 ? Effect.sleep(options.stepMs) : Effect.yieldNow()
    const waitFor = (kind: Pending["kind"], event: (requestId: string) => Agent.EmittedEvent) =>
      Effect.gen(function* () {
        const requestId = `${turn.turnId}-${kind}-${turn.pending.size + 1}`
        const deferred = yield* Deferred.make<Agent.Answer>()
        turn.pending.set(requestId, { kind, deferred })
        turn.status = "waiting"
        yield* emit(event(requestId))
        const answer = yield* Deferred.await(deferred)
        turn.status = "running"
        return answer
      })
    return {
      sessionId: session.meta.id,
      turnId: turn.turnId,
      prompt,
      emit,
      step,
      say: (text, chunk = 6) =>
        Effect.forEach(
          text.match(new RegExp(`[\\s\\S]{1,${Math.max(1, chunk)}}`, "g")) ?? [],
          (piece) => Effect.zipRight(step, emit({ type: "text_delta", text: piece })),
          { discard: true }
        ),
      ask: (questions) => waitFor("question", (requestId) => ({ type: "question_requested", requestId, questions })),
      askPermission: (toolName, description, args) =>
        Effect.map(
          waitFor("permission", (requestId) => ({
            type: "permission_requested",
            requestId,
            toolName,
            description,
            ...(args === undefined ? {} : { args })
          })),
          (answer) => !answer.dismissed && ClientMessage.isApproval(answer.answers)
        ),
      writeFile: (path, content) =>
        Effect.flatMap(now, (ts) => {
          const { change, iteration } = session.workspace.write(path, content, ts)
          return emit({ type: "file_changed", path, change, iteration })
        }),
      steers: Effect.sync(() => turn.steers.splice(0))
    }
  }

  /**
   * How a turn ends. Whatever happens here (an end event that does not fit a frame included), the
   * session is left without a turn and ready: a session is never stuck with a turn that is over.
   */
  const finish = (session: Session, turn: Turn) => (exit: Exit.Exit<void, string>) =>
    Effect.gen(function* () {
      if (sessions.get(session.meta.id) === undefined) return
      const ended =
        Exit.isSuccess(exit) || Exit.isInterrupted(exit)
          ? sessions.emit(session, { type: "turn_complete", turnId: turn.turnId, finalText: turn.text })
          : sessions.emit(session, { type: "turn_error", turnId: turn.turnId, ...whyFailed(exit.cause) })
      yield* ended.pipe(
        Effect.catchAll((error) =>
          sessions.emit(session, {
            type: "turn_error",
            turnId: turn.turnId,
            code: ErrorCode.ErrorCodes.InternalError,
            message: `the turn's end could not be sent: ${error.message.slice(0, 200)}`
          })
        ),
        Effect.ignore
      )
      const at = yield* now
      sessions.record(session, { id: `${turn.turnId}-assistant`, role: "assistant", content: turn.text, createdAt: at })
    }).pipe(
      Effect.ensuring(
        Effect.suspend(() => {
          if (session.turn === turn) session.turn = null
          return Effect.ignore(sessions.setStatus(session, "ready"))
        })
      )
    )

  return {
    start: (session, text, clientTurnId) =>
      Effect.gen(function* () {
        const agent = session.nextScript ?? options.agents[session.meta.agentType]
        session.nextScript = undefined
        if (agent === undefined) {
          return yield* new RequestError({
            code: ErrorCode.ErrorCodes.UnknownAgent,
            message: `No agent for ${session.meta.agentType}`
          })
        }
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
        session.meta = { ...session.meta, lastActivityAt: ts }
        // If the turn cannot even start (its `turn_started` does not fit), it never existed.
        yield* emitFor(session, {
          type: "turn_started",
          turnId: turn.turnId,
          ...(clientTurnId === undefined || !options.echoClientTurnId ? {} : { clientTurnId })
        }).pipe(
          Effect.tapError(() =>
            Effect.sync(() => {
              session.turn = null
              session.turns -= 1
            })
          )
        )
        sessions.record(session, { id: `${turn.turnId}-user`, role: "user", content: text, createdAt: ts })
        yield* Effect.ignore(sessions.setStatus(session, "running"))
        turn.fiber = yield* agent(context(session, turn, text)).pipe(
          Effect.onExit(finish(session, turn)),
          Effect.forkIn(options.scope)
        )
      }),
    stop: (session) =>
      Effect.gen(function* () {
        const turn = session.turn
        yield* emitFor(session, { type: "stop_acknowledged", turnId: turn?.turnId ?? null })
        if (turn?.fiber !== undefined) {
          turn.status = "stopping"
          yield* Fiber.interrupt(turn.fiber)
        }
      }),
    steer: (session, content) =>
      session.turn === null
        ? Effect.fail(
            new RequestError({
              code: ErrorCode.ErrorCodes.NoActiveTurn,
              message: `Session ${session.meta.id} has no turn running`
            })
          )
        : Effect.zipRight(
            Effect.sync(() => void session.turn!.steers.push(content)),
            emitFor(session, { type: "steer_sent", content })
          ),
    answer: (session, requestId, answers, dismissed) =>
      Effect.suspend(() => {
        const pending = session.turn?.pending.get(requestId)
        if (pending === undefined) {
          return Effect.fail(
            new RequestError({
              code: ErrorCode.ErrorCodes.QuestionNotFound,
              message: `No pending question ${requestId}`
            })
          )
        }
        session.turn!.pending.delete(requestId)
        const resolution = dismissed
          ? "dismissed"
          : pending.kind === "question"
            ? "answered"
            : ClientMessage.isApproval(answers)
              ? "approved"
              : "denied"
        return emitFor(session, { type: "approval_resolved", requestId, resolution }).pipe(
          Effect.zipRight(Deferred.succeed(pending.deferred, { answers, dismissed }))
        )
      }),
    interrupt: (session) => (session.turn?.fiber !== undefined ? Fiber.interrupt(session.turn.fiber) : Effect.void)
  }
}

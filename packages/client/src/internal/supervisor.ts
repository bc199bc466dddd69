/**
 * The reconnect policy: serve a connection, and after it drops, back off per the reconnect
 * `Schedule` and connect again; then re-send what was parked and re-join every joined session from
 * the last `seq` delivered. Owns the connection state and the current connection.
 *
 * @internal
 */
import { type ClientMessage, Correlation, type Shapes } from "@diminuendo/protocol"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Scope from "effect/Scope"
import * as ConnectionState from "../ConnectionState.js"
import { GatewayError } from "../GatewayError.js"
import type * as Transport from "../Transport.js"
import * as Handshake from "./handshake.js"
import * as Keepalive from "./keepalive.js"
import type { Link } from "./link.js"
import type { Sessions } from "./sessions.js"
import * as StateCell from "./stateCell.js"
import type * as Timers from "./timers.js"
import type * as Warnings from "./warnings.js"

/** Re-joins in flight at once after a reconnect. */
const rejoinConcurrency = 32

export interface SupervisorOptions extends Handshake.HandshakeOptions {
  readonly autoReconnect: boolean
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly keepalive: Keepalive.KeepaliveOptions
  /** The client's timers: the live connection's keepalive is ticked there. */
  readonly timers: Timers.Timers
  readonly sessions: Sessions
  /** A token for each connection attempt. */
  readonly token: Effect.Effect<Redacted.Redacted<string> | undefined, GatewayError>
  /** Where a reader's death is reported (`HandlerDefect`). */
  readonly warnings: Warnings.Warnings
  /** The client gave up reconnecting: end every stream with `error` (nothing may wait forever). */
  readonly onGiveUp: (error: GatewayError) => void
}

export interface Supervisor {
  readonly state: StateCell.StateCell<ConnectionState.ConnectionState>
  /** The live connection, if one is up. */
  readonly current: () => Link | undefined
  readonly identity: () => Shapes.Identity | undefined
  /** The identity of the connection `link` (the live one, or one being opened) changed. */
  readonly setIdentity: (identity: Shapes.Identity, link?: Link) => Effect.Effect<void>
  /** The live connection, waiting for one while reconnecting. */
  readonly awaitLink: Effect.Effect<Link, GatewayError>
  /** Connects for the first time and starts the reconnect loop; fails if the first attempt does. */
  readonly start: Effect.Effect<void, GatewayError>
  readonly isClosing: () => boolean
  /** Closes for good: the current connection with 1000, pending requests with `Closed`. */
  readonly close: Effect.Effect<void>
}

export const make = (options: SupervisorOptions): Effect.Effect<Supervisor> =>
  Effect.gen(function* () {
    const { requests, sessions } = options
    const state = StateCell.make<ConnectionState.ConnectionState>(ConnectionState.Connecting({ attempt: 1 }))
    let live: Handshake.Connected | undefined
    /** Who waits for a connection while there is none (made when someone does). */
    let connected: Deferred.Deferred<Link, GatewayError> | undefined
    /** The connection handed to waiters, once it serves (its parked requests come first). */
    let serving: Link | undefined
    let identity: Shapes.Identity | undefined
    let closing = false
    let epochs = 0
    /**
     * What closing the client interrupts: the fiber reconnecting, or the one reading the live
     * connection (none with the transports' own connections: no fiber waits on them).
     */
    let carrier: Fiber.RuntimeFiber<unknown> | undefined

    const setState = (next: ConnectionState.ConnectionState) => Effect.sync(() => state.set(next))

    const connectedState = (connection: Handshake.Connected) => {
      const welcome = connection.welcome
      return ConnectionState.Connected({
        connectionId: connection.link.connectionId ?? `connection-${connection.link.epoch}`,
        identity,
        gateway: {
          serverVersion: welcome.serverVersion,
          protocolVersion: welcome.protocolVersion,
          requiresAuth: welcome.requiresAuth,
          features: welcome.features ?? [],
          heartbeatIntervalMs: welcome.heartbeatIntervalMs
        }
      })
    }

    const connectOnce = (attempt: number) =>
      Effect.gen(function* () {
        yield* setState(ConnectionState.Connecting({ attempt }))
        const token = yield* options.token
        const next = yield* Handshake.connect(options, ++epochs, token)
        identity = next.identity
        yield* Effect.logDebug("connected to the gateway").pipe(
          Effect.annotateLogs({ url: options.url, epoch: next.link.epoch })
        )
        return next
      })

    /** A connection is up: publish it, start its keepalive, re-send parked requests, re-join sessions. */
    const serve = (next: Handshake.Connected) =>
      Effect.gen(function* () {
        live = next
        // Dev mode: the handshake ends at the welcome, and an unprompted `authenticated` that came
        // after it looked, while this connection was not live yet, was passed over by `setIdentity`.
        // Take it now; one that comes later finds the connection live.
        if (next.identity === undefined) {
          const late = next.link.unprompted
          if (late !== undefined) identity = late.identity
        }
        const keepalive = Keepalive.make(next.link, options.keepalive)
        if (keepalive !== undefined) {
          const stop = options.timers.add(keepalive)
          yield* Scope.addFinalizer(next.scope, Effect.sync(stop))
        }
        yield* setState(connectedState(next))
        serving = next.link
        if (connected !== undefined) yield* Deferred.succeed(connected, next.link)
        connected = undefined
        const resumePoints = sessions.resumePoints()
        const rejoining = new Set(resumePoints.map(([sessionId]) => sessionId))
        // A parked request that a session event confirms (`run_turn`, `answer_question`) waits for
        // its session's replay: a gateway that does not echo `clientTurnId` confirms a turn with the
        // first `turn_started` after it, and the replay may hold another client's.
        const afterReplay = (message: ClientMessage.ClientMessage, sessionId?: string) =>
          Correlation.isConfirmed(message.type) &&
          (sessionId === undefined
            ? rejoining.has((message as { readonly sessionId: string }).sessionId)
            : (message as { readonly sessionId: string }).sessionId === sessionId)
        yield* requests.resend(next.link, (message) => !afterReplay(message))
        // A session that has no position yet (joined on a snapshot without `lastSeq`, no event
        // since) re-joins from the start of the log: nothing of the outage can be lost.
        // A re-join the gateway refuses (the session is gone, access was taken away) or leaves
        // unanswered fails that session's streams with its error: never a stream that waits for
        // nothing. One cut short by the connection is made again on the next connection.
        yield* Effect.forEach(
          resumePoints,
          ([sessionId, afterSeq]) => {
            const replay = sessions.expectReplay(sessionId)
            /** This session's held requests, on this connection if it is still the live one (else they stay parked for the next). */
            const releaseHeld = Effect.suspend(() =>
              live?.link === next.link
                ? requests.resend(next.link, (message) => afterReplay(message, sessionId))
                : Effect.void
            )
            return requests
              .exchange({ type: "join_session", sessionId, afterSeq: afterSeq ?? 0 }, () => next.link)
              .pipe(
                Effect.matchEffect({
                  // After the replay (a gateway that never says `replay_complete` delays them by at
                  // most `connectTimeout`).
                  onSuccess: () =>
                    Effect.zipRight(Effect.ignore(Effect.timeout(replay.wait, options.connectTimeout)), releaseHeld),
                  onFailure: (error) =>
                    error.reason === "ConnectionLost" || error.reason === "NotConnected" || error.reason === "Closed"
                      ? Effect.void
                      : // Refused: no replay comes; the held requests go now and meet the gateway's answer.
                        Effect.zipRight(
                          Effect.sync(() => sessions.fail(sessionId, error)),
                          Effect.zipRight(
                            Effect.logWarning("re-joining a session after a reconnect failed; its streams fail").pipe(
                              Effect.annotateLogs({ sessionId, error: error.message })
                            ),
                            releaseHeld
                          )
                        )
                }),
                Effect.ensuring(Effect.sync(replay.cancel))
              )
          },
          // Bounded: a client following many sessions does not storm the gateway after a failover.
          { concurrency: rejoinConcurrency, discard: true }
        ).pipe(Effect.forkIn(options.scope))
        // From here the connection's reader carries the client: when it closes, `lost` runs there.
        carrier = (yield* next.adopt((exit) => lost(next, exit))) ?? carrier
      })

    const giveUp = (reason: string, message: string) =>
      Effect.gen(function* () {
        closing = true
        yield* setState(ConnectionState.Closed({ reason }))
        state.end()
        requests.failAll("NotConnected", message)
        const error = new GatewayError({ reason: "NotConnected", message })
        options.onGiveUp(error)
        if (connected !== undefined) yield* Deferred.fail(connected, error)
      })

    /** Connect attempts after a drop, each after its delay; `undefined` when the client gave up. */
    const reconnect = (shutdownDelayMs: number | undefined, lost: string) =>
      Effect.gen(function* () {
        let attempt = 1
        /** Why the client is reconnecting: how the connection was lost, then why the last attempt failed. */
        let reason = lost
        const delays = yield* Schedule.driver(
          Schedule.delays(options.schedule).pipe(
            Schedule.onDecision((delay, decision) =>
              ScheduleDecision.isDone(decision)
                ? Effect.void
                : setState(ConnectionState.Reconnecting({ attempt, delayMs: Duration.toMillis(delay), reason }))
            )
          )
        )
        // After `server_shutdown` the first attempt waits the gateway's delay; the schedule follows.
        const wait = (first: boolean) =>
          first && shutdownDelayMs !== undefined
            ? Effect.zipRight(
                setState(
                  ConnectionState.Reconnecting({ attempt, delayMs: shutdownDelayMs, reason: "server shutdown" })
                ),
                Effect.sleep(Duration.millis(shutdownDelayMs))
              )
            : Effect.either(delays.next(undefined))
        for (let first = true; ; first = false) {
          const waited = yield* wait(first)
          if (waited !== undefined && Either.isLeft(waited)) {
            yield* giveUp("gave up reconnecting", `gave up reconnecting to the gateway (last: ${reason})`)
            return undefined
          }
          const result = yield* Effect.either(connectOnce(attempt))
          if (Either.isRight(result)) return result.right
          yield* Effect.logWarning("reconnect attempt failed").pipe(
            Effect.annotateLogs({ attempt, error: result.left.message })
          )
          if (result.left.reason === "AuthFailed" || result.left.reason === "AuthRequired") {
            yield* giveUp(result.left.message, result.left.message)
            return undefined
          }
          attempt += 1
          reason = result.left.message
        }
      })

    /**
     * The connection `current` ended: say how, then back off and connect again. Runs in the fiber
     * that read the connection (see `Handshake.Connected.adopt`); the next connection's reader
     * carries the loop on from there.
     */
    const lost = (current: Handshake.Connected, exit: Exit.Exit<Transport.CloseInfo>): Effect.Effect<void> =>
      Effect.gen(function* () {
        // The client is closing, or gave up: whoever set `closing` is in charge of what follows.
        if (closing) return
        // Closing the client interrupts this fiber (reconnecting) or the one reading.
        yield* Effect.withFiberRuntime<void>((fiber) => Effect.sync(() => void (carrier = fiber)))
        const info = Exit.isSuccess(exit) ? exit.value : { code: 1011, reason: "the connection's reader failed" }
        if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
          // An Effect the frame handler returned died: say why (the connection is re-made below).
          options.warnings.warn({
            reason: "HandlerDefect",
            message: `the client failed handling frames (${Cause.pretty(exit.cause).split("\n")[0]}); reconnecting`,
            excerpt: ""
          })
          const logs = options.warnings.drain()
          if (logs !== undefined) yield* logs
        }
        live = undefined
        serving = undefined
        yield* Scope.close(current.scope, Exit.void)
        const reason = `closed with ${info.code}${info.reason ? ` (${info.reason})` : ""}`
        yield* Effect.logWarning("connection to the gateway lost").pipe(Effect.annotateLogs({ reason }))
        requests.orphan(current.link.epoch, reason, options.autoReconnect && !closing)
        if (!options.autoReconnect || closing) {
          return yield* giveUp(reason, `the connection ${reason} and reconnecting is off`)
        }
        const next = yield* reconnect(current.link.shutdownDelayMs, `connection lost: ${reason}`)
        if (next === undefined) return
        yield* serve(next)
      })

    return {
      state,
      current: () => live?.link,
      identity: () => identity,
      setIdentity: (next, link) =>
        Effect.suspend(() => {
          if (link !== undefined && link !== live?.link) {
            // A connection still in its handshake: the handshake reports who it is.
            return Effect.void
          }
          identity = next
          return live === undefined ? Effect.void : setState(connectedState(live))
        }),
      isClosing: () => closing,
      awaitLink: Effect.suspend(() =>
        closing
          ? Effect.fail(new GatewayError({ reason: "NotConnected", message: "the client is closed" }))
          : serving !== undefined
            ? Effect.succeed(serving)
            : Deferred.await((connected ??= Deferred.unsafeMake<Link, GatewayError>(FiberId.none)))
      ),
      start: Effect.flatMap(connectOnce(1), serve),
      close: Effect.gen(function* () {
        closing = true
        if (carrier !== undefined) yield* Fiber.interrupt(carrier)
        const current = live
        live = undefined
        serving = undefined
        requests.failAll("Closed", "the client was closed")
        if (connected !== undefined)
          yield* Deferred.fail(
            connected,
            // What waited for a connection (a `leave_session`) fails as a pending request does.
            new GatewayError({ reason: "Closed", message: "the client was closed" })
          )
        if (current !== undefined) {
          yield* current.link.connection.close(1000, "client closed")
          yield* Scope.close(current.scope, Exit.void)
        }
        yield* setState(ConnectionState.Closed({ reason: "client closed" }))
        state.end()
      })
    }
  })

/**
 * The inbound path: each frame of a connection is decoded, the handshake and control events are
 * noted on the connection, session events go through their session's sequencer, replies settle
 * their requests, and everything reaches `events`. It runs synchronously in the socket's callback;
 * only rare work (a log line, a close) is returned as an Effect.
 *
 * @internal
 */
import { CloseCode, type Codec, ProtocolError, ServerEvent } from "@diminuendo/protocol"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { DiagnosticReason } from "../Diagnostic.js"
import type * as Transport from "../Transport.js"
import type { Broadcast } from "./broadcast.js"
import * as Link from "./link.js"
import type { Requests } from "./requests.js"
import type { Sessions } from "./sessions.js"
import type { Warnings } from "./warnings.js"

/**
 * The longest `server_shutdown.reconnectAfterMs` the client honours: a larger value (even 2^53-1)
 * waits this long, so one frame cannot park the client for good.
 */
export const maxShutdownDelayMs = 5 * 60 * 1000

/** A rejected frame's error as the decoded value, so that an accepted frame allocates no `Either`. */
const asRejected = (error: ProtocolError): ProtocolError => error

const excerpt = (frame: string) => (frame.length > 200 ? `${frame.slice(0, 200)}...` : frame)

export const make = (deps: {
  readonly codec: Codec.ClientCodec
  readonly requests: Requests
  readonly sessions: Sessions
  readonly events: Broadcast<ServerEvent.ServerEvent>
  readonly warnings: Warnings
  /** Where the client's own follow-up work runs (re-joins). */
  readonly scope: Scope.Scope
  /** How long a re-join's replay may take before the requests it holds back go anyway. */
  readonly replayTimeout: Duration.Duration
  /** An `authenticated` no request asked for (dev mode): who the connection is signed in as. */
  readonly onIdentity: (link: Link.Link, event: ServerEvent.Authenticated) => Effect.Effect<void>
}) => {
  const { codec, events, requests, sessions, warnings } = deps

  const report = (reason: DiagnosticReason, message: string, frame: string): undefined => {
    warnings.warn({ reason, message, excerpt: excerpt(frame) })
    return undefined
  }

  /**
   * The session's log went backwards: join again from its new position to get the new log. Until
   * its replay has ended, a request a session event confirms waits (`Sessions.fence`): against a
   * gateway that does not echo `clientTurnId`, another client's `turn_started` in the replay would
   * confirm it. The fence is set now, before the application sees the reset.
   */
  const rejoin = (link: Link.Link, sessionId: string) => {
    const release = sessions.fence(sessionId, deps.replayTimeout)
    const replay = sessions.expectReplay(sessionId)
    return Effect.asVoid(
      Effect.forkIn(
        requests
          .exchange({ type: "join_session", sessionId, afterSeq: sessions.lastSeq(sessionId) ?? 0 }, () => link)
          .pipe(
            Effect.zipRight(Effect.timeout(replay.wait, deps.replayTimeout)),
            Effect.ignore,
            Effect.ensuring(
              Effect.sync(() => {
                replay.cancel()
                release()
              })
            )
          ),
        deps.scope
      )
    )
  }

  const onFrame = (link: Link.Link, frame: Transport.Frame): Effect.Effect<void> | undefined => {
    if (typeof frame !== "string") {
      return report("BinaryFrame", `a binary frame of ${frame.byteLength} bytes (the protocol uses text frames)`, "")
    }
    const event = codec.decodeOrElse(frame, asRejected)
    if (event instanceof ProtocolError) return report(event.reason, event.message, frame)
    const bytes = frame.length
    // Each field of the event is read once: the events of a stream come in many shapes, so every
    // read here is a megamorphic property load (bench/ANALYSIS.md, client streaming).
    const { type } = event
    switch (type) {
      case "welcome":
        // Only the first welcome of a connection sets its features.
        if (link.welcome === undefined) {
          link.welcome = event
          link.requestIds = event.features?.includes("requestId") ?? false
          Link.notify(link)
        }
        events.publish(event, bytes)
        return undefined
      case "connected":
        link.connectionId = event.connectionId
        break
      case "pong":
        if (event.ts === undefined || event.ts === link.pingTs) link.pingTs = undefined
        break
      case "server_shutdown":
        link.shutdownDelayMs = Math.min(event.reconnectAfterMs ?? 0, maxShutdownDelayMs)
        events.publish(event, bytes)
        return Effect.zipRight(
          Effect.logInfo("gateway is shutting down").pipe(Effect.annotateLogs({ reason: event.reason })),
          link.connection.close(CloseCode.Normal, "server shutdown")
        )
      case "replay_complete":
        events.publish(event, bytes)
        sessions.replayComplete(event.sessionId)
        return event.lastSeq !== undefined && sessions.position(event.sessionId, event.lastSeq)
          ? rejoin(link, event.sessionId)
          : undefined
      case "gap":
        sessions.deliver(event, bytes)
        return undefined
      case "state_snapshot": {
        const backwards = event.lastSeq !== undefined && sessions.position(event.sessionId, event.lastSeq)
        events.publish(event, bytes)
        requests.settle(link, event)
        return backwards ? rejoin(link, event.sessionId) : undefined
      }
    }
    // `text_delta` first: most of a session's events, and comparing it is cheaper than hashing a
    // string fresh from `JSON.parse` for the set.
    // Set when the session's log restarted without the gateway saying so: fetch it again from its start.
    let restarted: Effect.Effect<void> | undefined
    if (type === "text_delta" || ServerEvent.sessionEventTypes.has(type)) {
      const sessionEvent = event as ServerEvent.SessionEvent
      if (sessions.deliver(sessionEvent, bytes)) restarted = rejoin(link, sessionEvent.sessionId)
    } else if (type === "unknown") {
      // A future session event: it keeps its place in the session's order.
      const { seq, sessionId } = event.payload
      if (typeof sessionId === "string" && Number.isSafeInteger(seq) && (seq as number) >= 0) {
        sessions.deliver({ ...event, sessionId, seq: seq as number }, bytes)
      } else events.publish(event, bytes)
    } else events.publish(event, bytes)
    if (requests.settle(link, event)) return restarted
    if (type === "authenticated") {
      link.unprompted ??= event
      Link.notify(link)
      return deps.onIdentity(link, event)
    }
    if (type === "error") {
      return report(
        "UnattributedError",
        `an error no pending request can be matched to with certainty: ${event.code}: ${event.message}`,
        frame
      )
    }
    return restarted
  }

  /** The frame handler of one connection. */
  return (link: Link.Link): Transport.FrameHandler =>
    (frames) => {
      link.frames += frames.length
      let effects: Array<Effect.Effect<void>> | undefined
      for (const frame of frames) {
        let effect: Effect.Effect<void> | undefined
        try {
          effect = onFrame(link, frame)
        } catch (defect) {
          // A defect here must not leave a connection that reads nothing: drop it (the supervisor
          // reconnects and resumes) and say why.
          warnings.warn({
            reason: "HandlerDefect",
            message: `the client failed handling a frame (${String(defect)}); reconnecting`,
            excerpt: typeof frame === "string" ? excerpt(frame) : ""
          })
          return Effect.zipRight(
            Effect.logError("the client failed handling a frame; dropping the connection", defect),
            link.connection.close(CloseCode.InternalError, "client frame handling failed")
          )
        }
        if (effect !== undefined) (effects ??= []).push(effect)
      }
      const logs = warnings.drain()
      if (logs !== undefined) (effects ??= []).push(logs)
      return effects === undefined ? undefined : Effect.all(effects, { discard: true })
    }
}

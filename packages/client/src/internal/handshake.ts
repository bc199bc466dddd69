/**
 * Opening one connection: the socket, then the gateway's `welcome`, then authentication (or the
 * dev-mode identity). The result is a live connection in its own scope, whose reader is already
 * handing frames to the client. Once the client adopts the connection, its reader fiber also carries
 * what follows its close (the reconnect loop): an idle client keeps one fiber per connection, not a
 * reader and a loop waiting on it (bench/ANALYSIS.md, memory per idle client).
 *
 * @internal
 */
import type { ServerEvent, Shapes } from "@diminuendo/protocol"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { GatewayError } from "../GatewayError.js"
import * as Transport from "../Transport.js"
import * as Link from "./link.js"
import type { Requests } from "./requests.js"

export interface Connected {
  readonly link: Link.Link
  /** Closing it closes the connection and interrupts its fibers. */
  readonly scope: Scope.CloseableScope
  /**
   * Hands the rest of the connection's life to `then`: it runs once the connection has closed, in
   * the reader fiber, or in a fiber forked then where no fiber reads (at once if it already has).
   * Returns the fiber reading until then, if there is one. Call it once.
   */
  readonly adopt: (
    then: (exit: Exit.Exit<Transport.CloseInfo>) => Effect.Effect<void>
  ) => Effect.Effect<Fiber.RuntimeFiber<void> | undefined>
  readonly welcome: ServerEvent.Welcome
  /** `undefined`: a dev-mode gateway that has not said who we are (yet). */
  readonly identity: Shapes.Identity | undefined
}

export interface HandshakeOptions {
  readonly transport: Transport.Transport["Type"]
  readonly url: string
  readonly maxMessageBytes: number
  readonly connectTimeout: Duration.Duration
  readonly requests: Requests
  readonly handler: (link: Link.Link) => Transport.FrameHandler
  /** The `welcome.protocolVersion`s this client speaks. */
  readonly protocolVersions: ReadonlyArray<number>
  /** The client's scope: where each connection's reader runs (and the reconnect loop it carries), and re-joins. */
  readonly scope: Scope.Scope
}

/** Opens a connection; one that fails or is interrupted on the way is closed (its scope). */
export const connect = (
  options: HandshakeOptions,
  epoch: number,
  token: Redacted.Redacted<string> | undefined
): Effect.Effect<Connected, GatewayError> =>
  Effect.flatMap(Scope.make(), (scope) =>
    Effect.onExit(open(options, epoch, token, scope), (exit) =>
      Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void)
    )
  )

const open = (
  options: HandshakeOptions,
  epoch: number,
  token: Redacted.Redacted<string> | undefined,
  scope: Scope.CloseableScope
): Effect.Effect<Connected, GatewayError> =>
  Effect.gen(function* () {
    const connection = yield* options.transport
      .open({
        url: options.url,
        token,
        maxMessageBytes: options.maxMessageBytes,
        openTimeoutMs: Duration.toMillis(options.connectTimeout)
      })
      .pipe(
        Scope.extend(scope),
        Effect.timeoutFail({
          duration: options.connectTimeout,
          onTimeout: () =>
            new Transport.TransportError({
              reason: "OpenTimeout",
              message: `no connection to ${options.url} within ${Duration.format(options.connectTimeout)}`
            })
        }),
        Effect.mapError((cause) => new GatewayError({ reason: "ConnectionFailed", message: cause.message, cause }))
      )
    const link = Link.make(epoch, connection)
    /** How the reader ended, once it has (a defect in the frame path included). */
    let ended: Deferred.Deferred<Exit.Exit<Transport.CloseInfo>> | undefined =
      yield* Deferred.make<Exit.Exit<Transport.CloseInfo>>()
    const closed = ended
    let endedWith: Exit.Exit<Transport.CloseInfo> | undefined
    let then: ((exit: Exit.Exit<Transport.CloseInfo>) => Effect.Effect<void>) | undefined
    /** The reading ended: the handshake learns of it, or what the client adopted runs (once). */
    const finish = (exit: Exit.Exit<Transport.CloseInfo>): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (endedWith !== undefined) return Effect.void
        endedWith = exit
        if (ended !== undefined) Deferred.unsafeDone(ended, Exit.succeed(exit))
        return then === undefined ? Effect.void : then(exit)
      })
    const handler = options.handler(link)
    const listen = Transport.listenerOf(connection)
    let reader: Fiber.RuntimeFiber<void> | undefined
    if (listen === undefined) {
      // A fiber reads. In the client's scope, not the connection's: closing the connection's scope
      // is part of what it runs after the close (the connection's scope closes the socket, which
      // ends `run`).
      reader = yield* Effect.forkIn(Effect.flatMap(Effect.exit(connection.run(handler)), finish), options.scope)
    } else {
      // No fiber waits: frames reach the handler from the socket's callback, and a fiber is forked
      // only for an Effect the handler returns (rare) and for what follows the close.
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())
      /** An Effect the handler returned, while it runs: interrupted with the connection. */
      let working: Fiber.RuntimeFiber<void> | undefined
      yield* Scope.addFinalizer(
        scope,
        Effect.suspend(() => (working === undefined ? Effect.void : Fiber.interrupt(working)))
      )
      listen(handler, {
        runWork: (work, done) => {
          const fiber = runFork(work)
          working = fiber
          fiber.addObserver((exit) => {
            if (working === fiber) working = undefined
            if (Exit.isSuccess(exit)) done()
            // It died: the reading ends there, as a reader fiber's would (the client reconnects).
            else if (!Exit.isInterrupted(exit)) runFork(finish(Exit.failCause(exit.cause)))
          })
        },
        onClose: (info) => {
          runFork(finish(Exit.succeed(info)))
        }
      })
    }
    const adopt: Connected["adopt"] = (next) =>
      Effect.suspend(() => {
        if (endedWith === undefined) {
          then = next
          return Effect.succeed(reader)
        }
        return Effect.forkIn(next(endedWith), options.scope)
      })

    /** Set while a token-less client waits for a gateway that did not say whether it needs one. */
    let awaitingIdentity = false
    const handshake = Effect.gen(function* () {
      const welcome = yield* Link.until(link, (l) => l.welcome)
      const version = welcome.protocolVersion
      if (version !== undefined && !options.protocolVersions.includes(version)) {
        return yield* new GatewayError({
          reason: "IncompatibleProtocol",
          message: `the gateway speaks protocol version ${version}; this client speaks ${options.protocolVersions.join(", ")}`
        })
      }
      if (token === undefined) {
        if (welcome.requiresAuth === true) {
          return yield* new GatewayError({
            reason: "AuthRequired",
            message: "Authentication required but no token was provided"
          })
        }
        // Dev mode: connected once the welcome says no authentication is required (seed); an
        // `authenticated` that came with it names the identity.
        if (welcome.requiresAuth === false) {
          return { welcome, identity: link.unprompted?.identity }
        }
        // The welcome does not say: only an `authenticated` shows that no token is needed.
        awaitingIdentity = true
        return { welcome, identity: (yield* Link.until(link, (l) => l.unprompted)).identity }
      }
      const reply = yield* options.requests.exchange(
        { type: "authenticate", token: Redacted.value(token) },
        () => link,
        Number.POSITIVE_INFINITY
      )
      return { welcome, identity: (reply as ServerEvent.Authenticated).identity }
    })
    const closedEarly = Effect.flatMap(Deferred.await(closed), (exit) =>
      Effect.fail(
        new GatewayError({
          reason: "ConnectionFailed",
          message: Exit.isSuccess(exit)
            ? `the gateway closed the connection during the handshake (${exit.value.code}${exit.value.reason ? ` ${exit.value.reason}` : ""})`
            : "the connection's reader failed during the handshake"
        })
      )
    )
    const { identity, welcome } = yield* Effect.raceFirst(handshake, closedEarly).pipe(
      Effect.timeoutFail({
        duration: options.connectTimeout,
        onTimeout: () =>
          awaitingIdentity
            ? new GatewayError({
                reason: "AuthRequired",
                message: `the gateway did not say whether it requires authentication, sent no identity within ${Duration.format(options.connectTimeout)}, and no token was provided`
              })
            : new GatewayError({
                reason: "ConnectionFailed",
                message: "Connection timeout while waiting for authentication"
              })
      })
    )
    // Only the handshake waits for the close this way; what follows it is `adopt`'s.
    ended = undefined
    return { link, scope, adopt, welcome, identity }
  })

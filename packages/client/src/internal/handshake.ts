/**
 * Opening one connection: the socket, then the gateway's `welcome`, then authentication (or the
 * dev-mode identity). The result is a live connection in its own scope, whose reader is already
 * handing frames to the client.
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
import * as Scope from "effect/Scope"
import { GatewayError } from "../GatewayError.js"
import * as Transport from "../Transport.js"
import * as Link from "./link.js"
import type { Requests } from "./requests.js"

export interface Connected {
  readonly link: Link.Link
  /** Closing it closes the connection and interrupts its fibers. */
  readonly scope: Scope.CloseableScope
  /** Hands the connection's frames to the client; completes when the connection closes. */
  readonly reader: Fiber.RuntimeFiber<Transport.CloseInfo>
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
}

export const connect = (
  options: HandshakeOptions,
  epoch: number,
  token: Redacted.Redacted<string> | undefined
): Effect.Effect<Connected, GatewayError> =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const fail = <A, R>(self: Effect.Effect<A, GatewayError, R>) =>
      Effect.tapError(self, () => Scope.close(scope, Exit.void))
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
        Effect.mapError((cause) => new GatewayError({ reason: "ConnectionFailed", message: cause.message, cause })),
        fail
      )
    const link = yield* Link.make(epoch, connection)
    const reader = yield* Effect.forkIn(connection.run(options.handler(link)), scope)

    /** Set while a token-less client waits for a gateway that did not say whether it needs one. */
    let awaitingIdentity = false
    const handshake = Effect.gen(function* () {
      const welcome = yield* Deferred.await(link.welcome)
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
          const identity = yield* Deferred.poll(link.unprompted)
          return { welcome, identity: identity._tag === "Some" ? (yield* identity.value).identity : undefined }
        }
        // The welcome does not say: only an `authenticated` shows that no token is needed.
        awaitingIdentity = true
        return { welcome, identity: (yield* Deferred.await(link.unprompted)).identity }
      }
      const reply = yield* options.requests.exchange(
        { type: "authenticate", token: Redacted.value(token) },
        link,
        Number.POSITIVE_INFINITY
      )
      return { welcome, identity: (reply as ServerEvent.Authenticated).identity }
    })
    const closedEarly = Effect.flatMap(Fiber.join(reader), (info) =>
      Effect.fail(
        new GatewayError({
          reason: "ConnectionFailed",
          message: `the gateway closed the connection during the handshake (${info.code}${info.reason ? ` ${info.reason}` : ""})`
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
      }),
      fail
    )
    return { link, scope, reader, welcome, identity }
  })

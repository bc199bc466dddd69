/**
 * Connects a client to a testkit {@link Gateway} without sockets. Frames still go through the text
 * codec on both sides, so the bytes are those a socket would carry; everything runs on Effect
 * primitives, so TestClock drives heartbeats, agent steps and timeouts.
 *
 * @since 0.1.0
 */
import { Transport } from "@diminuendo/client"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Gateway from "./Gateway.js"

/**
 * Options of the in-memory pipe.
 *
 * @since 0.1.0
 * @category models
 */
export interface InMemoryOptions {
  /** Frames held towards the client (while it runs an Effect a frame asked for) before the gateway's writer waits. @default 1024 */
  readonly buffer?: number
}

/**
 * Opens one in-memory connection to `gateway`. Closing the scope closes it (code 1000).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  gateway: Gateway.Gateway,
  options: InMemoryOptions = {}
): Effect.Effect<Transport.Connection & { readonly control: Gateway.ConnectionControl }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const outer = yield* Effect.scope
    const gatewayScope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
    const toGateway = yield* Queue.unbounded<string>()
    const closed = yield* Deferred.make<Transport.CloseInfo>()
    // The gateway's writer waits while the client holds `buffer` frames (backpressure).
    const writable = Effect.unsafeMakeLatch(true)

    // Uninterruptible: the closing fiber may live in a scope that the close ends (a keepalive).
    const closeWith = (info: Transport.CloseInfo) =>
      Effect.uninterruptible(
        Effect.flatMap(Deferred.succeed(closed, info), (first) => {
          if (!first) return Effect.void
          driver.closed(info)
          writable.unsafeOpen()
          return Scope.close(gatewayScope, Exit.void)
        })
      )

    const driver = Transport.makeConnection({
      send: (frame) =>
        Effect.flatMap(Deferred.poll(closed), (done) =>
          Option.isSome(done)
            ? Effect.fail(new Transport.TransportError({ reason: "Closed", message: "connection closed" }))
            : Effect.asVoid(Queue.offer(toGateway, frame))
        ),
      close: (code, reason) => closeWith({ code, reason }),
      maxHeldFrames: options.buffer ?? 1024,
      onFull: () => writable.unsafeClose(),
      onDrained: () => writable.unsafeOpen()
    })

    const peer: Gateway.Peer = {
      write: (frame) =>
        Effect.flatMap(Deferred.isDone(closed), (done) => {
          if (done) return Effect.void
          driver.receive(frame)
          return writable.await
        }),
      // Forked: the gateway may close from a fiber that the close itself interrupts.
      close: (code, reason) =>
        Effect.asVoid(
          Effect.forkDaemon(closeWith({ code: code ?? 1006, reason: code === undefined ? "" : (reason ?? "") }))
        )
    }
    const accepted = yield* Scope.extend(gateway.accept(peer), gatewayScope)
    yield* Effect.forkIn(Effect.forever(Effect.flatMap(Queue.take(toGateway), accepted.receive)), gatewayScope)
    yield* Effect.addFinalizer(() => closeWith({ code: 1000, reason: "client closed" }))
    return { ...driver.connection, control: accepted.control }
  })

/**
 * The client's {@link Transport.Transport}, connecting every `open` to the {@link Gateway} in context
 * (the URL is ignored).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTransport: Layer.Layer<Transport.Transport, never, Gateway.Gateway> = Layer.effect(
  Transport.Transport,
  Effect.map(Gateway.Gateway, (gateway) => ({ open: () => connect(gateway) }))
)

/**
 * A gateway built with `options` and the transport to it: everything a client test needs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Gateway.GatewayOptions = {}): Layer.Layer<Transport.Transport | Gateway.Gateway> =>
  Layer.provideMerge(layerTransport, Gateway.layer(options))

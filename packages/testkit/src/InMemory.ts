/**
 * Connects a client to a testkit {@link Gateway} without sockets. Frames still go through the text
 * codec on both sides, so the bytes are those a socket would carry; everything runs on Effect
 * primitives, so TestClock drives heartbeats, agent steps and timeouts.
 *
 * @since 0.1.0
 */
import { Transport } from "@diminuendo/client"
import * as Chunk from "effect/Chunk"
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
  /** Frames buffered towards the client before the gateway's writer waits (backpressure). @default 1024 */
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
    const toClient = yield* Queue.bounded<string>(options.buffer ?? 1024)
    const toGateway = yield* Queue.unbounded<string>()
    const closed = yield* Deferred.make<Transport.CloseInfo>()

    const closeWith = (info: Transport.CloseInfo) =>
      Effect.flatMap(Deferred.succeed(closed, info), (first) =>
        first ? Scope.close(gatewayScope, Exit.void) : Effect.void
      )

    const peer: Gateway.Peer = {
      write: (frame) =>
        Effect.flatMap(Deferred.isDone(closed), (done) => (done ? Effect.void : Queue.offer(toClient, frame))),
      // Forked: the gateway may close from a fiber that the close itself interrupts.
      close: (code, reason) =>
        Effect.asVoid(
          Effect.forkDaemon(closeWith({ code: code ?? 1006, reason: code === undefined ? "" : (reason ?? "") }))
        )
    }
    const accepted = yield* Scope.extend(gateway.accept(peer), gatewayScope)
    yield* Effect.forkIn(Effect.forever(Effect.flatMap(Queue.take(toGateway), accepted.receive)), gatewayScope)
    yield* Effect.addFinalizer(() => closeWith({ code: 1000, reason: "client closed" }))

    const connection: Transport.Connection & { readonly control: Gateway.ConnectionControl } = {
      control: accepted.control,
      send: (frame) =>
        Effect.flatMap(Deferred.poll(closed), (done) =>
          Option.isSome(done)
            ? Effect.fail(new Transport.TransportError({ reason: "Closed", message: "connection closed" }))
            : Effect.asVoid(Queue.offer(toGateway, frame))
        ),
      run: (handler) => {
        const handOver = (frames: ReadonlyArray<string>) => handler(frames) ?? Effect.void
        return Effect.gen(function* () {
          for (;;) {
            const ready = yield* Queue.takeUpTo(toClient, Transport.maxBatch)
            if (ready.length > 0) {
              yield* handOver(Chunk.toReadonlyArray(ready))
              continue
            }
            // Nothing queued: wait for a frame or the close. Frames queued before the close are
            // delivered first, as on a socket.
            const next = yield* Effect.raceFirst(
              Effect.map(Queue.take(toClient), Option.some),
              Effect.as(Deferred.await(closed), Option.none<string>())
            )
            if (Option.isSome(next)) {
              yield* handOver([next.value])
              continue
            }
            const rest = yield* Queue.takeAll(toClient)
            if (rest.length > 0) yield* handOver(Chunk.toReadonlyArray(rest))
            return yield* Deferred.await(closed)
          }
        })
      },
      close: (code, reason) => closeWith({ code, reason })
    }
    return connection
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

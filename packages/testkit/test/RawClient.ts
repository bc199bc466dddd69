/**
 * A bare protocol client for testing the gateway: sends encoded messages, collects decoded events.
 */
import { NodeTransport, Transport } from "@diminuendo/client"
import { type ClientMessage, Codec, type ServerEvent } from "@diminuendo/protocol"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Gateway from "../src/Gateway.js"
import * as InMemory from "../src/InMemory.js"
import * as WsServer from "../src/WsServer.js"

export interface RawClient {
  readonly send: (message: ClientMessage.ClientMessage) => Effect.Effect<void>
  readonly sendText: (frame: string) => Effect.Effect<void>
  /** The next event of `type`, skipping (and keeping in `log`) the others. */
  readonly next: <T extends ServerEvent.Type>(
    type: T,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<ServerEvent.ByType<T>, Error>
  /** The next event of `type` that satisfies `predicate`. */
  readonly nextWhere: <T extends ServerEvent.Type>(
    type: T,
    predicate: (event: ServerEvent.ByType<T>) => boolean,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<ServerEvent.ByType<T>, Error>
  /** The next event, whatever it is. */
  readonly any: (timeout?: Duration.DurationInput) => Effect.Effect<ServerEvent.ServerEvent, Error>
  /** Sends and waits for the reply of `type`. */
  readonly request: <T extends ServerEvent.Type>(
    message: ClientMessage.ClientMessage,
    type: T
  ) => Effect.Effect<ServerEvent.ByType<T>, Error>
  readonly log: Array<ServerEvent.ServerEvent>
  readonly frames: Array<string>
  readonly closed: Deferred.Deferred<Transport.CloseInfo>
  readonly close: Effect.Effect<void>
}

export const fromConnection = (connection: Transport.Connection): Effect.Effect<RawClient, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ticks = yield* Queue.unbounded<void>()
    const closed = yield* Deferred.make<Transport.CloseInfo>()
    const log: Array<ServerEvent.ServerEvent> = []
    const taken: Array<boolean> = []
    const frames: Array<string> = []
    yield* connection
      .run((batch) =>
        Effect.sync(() => {
          for (const frame of batch) {
            if (typeof frame !== "string") continue
            frames.push(frame)
            const decoded = Codec.client.decode(frame)
            if (Either.isRight(decoded)) {
              log.push(decoded.right)
              taken.push(false)
              ticks.unsafeOffer(undefined)
            }
          }
        })
      )
      .pipe(
        Effect.flatMap((info) => Deferred.succeed(closed, info)),
        Effect.forkScoped
      )
    // The first event not yet returned that satisfies `accept`; events of other types stay
    // available to later calls, so a fast gateway cannot make a test miss an event.
    const first = (
      accept: (event: ServerEvent.ServerEvent) => boolean,
      label: string,
      timeout: Duration.DurationInput
    ) =>
      Effect.timeoutFail(
        Effect.gen(function* () {
          for (;;) {
            const index = log.findIndex((event, i) => !taken[i] && accept(event))
            if (index >= 0) {
              taken[index] = true
              return log[index]!
            }
            yield* Queue.take(ticks)
          }
        }),
        { duration: timeout, onTimeout: () => new Error(`no ${label} within ${Duration.format(timeout)}`) }
      )
    const any = (timeout: Duration.DurationInput = "5 seconds") => first(() => true, "event", timeout)
    const next = <T extends ServerEvent.Type>(type: T, timeout: Duration.DurationInput = "5 seconds") =>
      first((event) => event.type === type, type, timeout) as Effect.Effect<ServerEvent.ByType<T>, Error>
    const nextWhere = <T extends ServerEvent.Type>(
      type: T,
      predicate: (event: ServerEvent.ByType<T>) => boolean,
      timeout: Duration.DurationInput = "5 seconds"
    ) =>
      first(
        (event) => event.type === type && predicate(event as ServerEvent.ByType<T>),
        type,
        timeout
      ) as Effect.Effect<ServerEvent.ByType<T>, Error>
    const send = (message: ClientMessage.ClientMessage) =>
      Effect.orDie(connection.send(Either.getOrThrow(Codec.client.encode(message))))
    return {
      send,
      sendText: (frame) => Effect.orDie(connection.send(frame)),
      next,
      nextWhere,
      any,
      request: (message, type) => Effect.zipRight(send(message), next(type)),
      log,
      frames,
      closed,
      close: connection.close(1000, "done")
    }
  })

export interface Harness {
  readonly name: string
  /** A gateway and a function that opens raw clients to it. */
  readonly make: (
    options?: Gateway.GatewayOptions
  ) => Effect.Effect<
    { readonly gateway: Gateway.Gateway; readonly open: Effect.Effect<RawClient, never, Scope.Scope> },
    never,
    Scope.Scope
  >
}

export const inMemory: Harness = {
  name: "in memory",
  make: (options) =>
    Effect.map(Gateway.make(options), (gateway) => ({
      gateway,
      open: Effect.flatMap(InMemory.connect(gateway), fromConnection)
    }))
}

export const overWs: Harness = {
  name: "over ws",
  make: (options) =>
    Effect.gen(function* () {
      const gateway = yield* Gateway.make(options)
      const server = yield* Effect.orDie(WsServer.serve(gateway))
      const transport = yield* Effect.provide(Transport.Transport, NodeTransport.layer)
      return {
        gateway,
        open: Effect.flatMap(
          Effect.orDie(transport.open({ url: server.url, maxMessageBytes: 64 * 1024 * 1024 })),
          fromConnection
        )
      }
    })
}

export const harnesses = [inMemory, overWs] as const

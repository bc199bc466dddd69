/**
 * Spans for requests, made only when someone can read them.
 *
 * @internal
 */
import type { ClientMessage } from "@diminuendo/protocol"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * Runs a request in a span named after its type, as a child of the caller's span. Under Effect's
 * built-in tracer nothing can read a span that no code runs inside, and making one costs more than
 * a loopback round trip (bench/RESULTS.md), so spans are made only when a tracer is installed
 * (OpenTelemetry, DevTools, `Effect.withTracer`).
 */
export const traced = <A, E, R>(self: Effect.Effect<A, E, R>, message: ClientMessage.ClientMessage) =>
  Effect.tracerWith((tracer) =>
    tracer === nativeTracer
      ? self
      : Effect.useSpan(
          `GatewayClient.${message.type}`,
          {
            captureStackTrace: false,
            attributes: {
              "diminuendo.type": message.type,
              ...("sessionId" in message ? { "diminuendo.session_id": message.sessionId } : {})
            }
          },
          () => self
        )
  )

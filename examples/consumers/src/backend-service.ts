/**
 * Consumer 1, a backend service: an HTTP API in front of the gateway. The client's Layer is composed
 * with an `@effect/platform-node` HTTP server's, and the client's typed failures become HTTP statuses.
 *
 *   GET  /health                      200 { latencyMs }; 503 { reason } when the gateway does not answer
 *   POST /sessions { agentType }      201 the session; 400 UNKNOWN_AGENT
 *   POST /sessions/:id/turns { text } 200 { turnId, text, questions, permissions } once the turn is over;
 *                                     404 SESSION_NOT_FOUND, 409 TURN_IN_PROGRESS
 *
 * The service answers the agent's questions with their first option and denies its permission
 * requests: it acts for nobody who could approve. Environment: GATEWAY_URL, GATEWAY_TOKEN, PORT
 * (0 picks a free port; the address is logged: "Listening on http://...").
 */
import { createServer } from "node:http"
import { GatewayClient, GatewayError, type GatewayErrorOf, NodeTransport } from "@diminuendo/client"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Redacted, Schema, Stream } from "effect"

const CreateSession = Schema.Struct({ agentType: Schema.String, name: Schema.optional(Schema.String) })
const RunTurn = Schema.Struct({ text: Schema.String })
const SessionPath = Schema.Struct({ sessionId: Schema.String })

const statusOf: Record<string, number> = { SESSION_NOT_FOUND: 404, TURN_IN_PROGRESS: 409, UNKNOWN_AGENT: 400 }

/** The gateway said no: its code, with the status that means the same. */
const refused = (error: GatewayErrorOf<"ServerError" | "TurnFailed">) =>
  HttpServerResponse.json(
    { code: error.code ?? null, message: error.message },
    { status: statusOf[error.code ?? ""] ?? 502 }
  )

const badRequest = (error: { readonly message: string }) =>
  HttpServerResponse.json({ code: "BAD_REQUEST", message: error.message }, { status: 400 })

const health = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const { latencyMs } = yield* client.ping
  return yield* HttpServerResponse.json({ gateway: "up", latencyMs })
}).pipe(
  Effect.catchIf(GatewayError.is("RequestTimeout", "NotConnected", "ConnectionLost"), (error) =>
    HttpServerResponse.json({ gateway: "down", reason: error.reason }, { status: 503 })
  )
)

const createSession = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const body = yield* HttpServerRequest.schemaBodyJson(CreateSession)
  const session = yield* client.createSession(body.agentType, body.name)
  return yield* HttpServerResponse.json(session, { status: 201 })
}).pipe(GatewayError.catchReason("ServerError", refused), Effect.catchTag("ParseError", badRequest))

interface TurnResult {
  readonly turnId: string
  readonly text: string
  readonly questions: number
  readonly permissions: number
}

const runTurn = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const { sessionId } = yield* HttpRouter.schemaPathParams(SessionPath)
  const { text } = yield* HttpServerRequest.schemaBodyJson(RunTurn)
  const result = yield* client.turn(sessionId, text).pipe(
    Stream.runFoldEffect(
      { turnId: "", text: "", questions: 0, permissions: 0 } as TurnResult,
      (result, item): Effect.Effect<TurnResult, GatewayError> => {
        switch (item.type) {
          case "turn_started":
            return Effect.succeed({ ...result, turnId: item.turnId })
          case "text_delta":
            return Effect.succeed({ ...result, text: result.text + item.text })
          case "question_requested": {
            const answers = Object.fromEntries(item.questions.map((q) => [q.id, q.options?.[0] ?? "yes"]))
            return Effect.as(client.answer(sessionId, item.requestId, answers), {
              ...result,
              questions: result.questions + 1
            })
          }
          case "permission_requested":
            return Effect.as(client.deny(sessionId, item.requestId), { ...result, permissions: result.permissions + 1 })
          case "turn_complete":
            return Effect.succeed({ ...result, text: item.finalText ?? result.text })
          default:
            return Effect.succeed(result)
        }
      }
    )
  )
  return yield* HttpServerResponse.json(result)
}).pipe(
  Effect.catchIf(GatewayError.is("ServerError", "TurnFailed"), refused),
  Effect.catchTag("ParseError", badRequest)
)

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/health", health),
  HttpRouter.post("/sessions", createSession),
  HttpRouter.post("/sessions/:sessionId/turns", runTurn)
)

const token = process.env.GATEWAY_TOKEN
const GatewayLive = NodeTransport.layerGatewayClient({
  url: process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787",
  token: token ? Redacted.make(token) : undefined
})

const HttpLive = router.pipe(
  HttpServer.serve(),
  HttpServer.withLogAddress,
  Layer.provide(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: Number(process.env.PORT ?? 3000) })),
  Layer.provide(GatewayLive)
)

// Runs until SIGINT or SIGTERM, then closes the HTTP server and the gateway connection.
NodeRuntime.runMain(Layer.launch(HttpLive))

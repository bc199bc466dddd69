/**
 * Consumer 2, an app: follows one session's Stream through a coding-agent turn (answering the
 * agent's question, approving its permission request), and catches the typed failures it expects:
 * a second turn while the first runs (`TURN_IN_PROGRESS`), and a turn on a session that does not
 * exist, whose Stream fails (`SESSION_NOT_FOUND`). Prints one JSON line: what it saw.
 * Environment: GATEWAY_URL, GATEWAY_TOKEN.
 */
import { GatewayClient, GatewayError, NodeTransport } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { followTurn } from "./followTurn.js"

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const session = yield* client.createSession("coding-agent", "app")
  // Subscribed before the turn starts, so nothing of it is missed.
  const items = yield* client.subscribeSession(session.id)
  const started = yield* client.runTurn(session.id, "Add an add() function with a test, and run it.")

  const caught: Array<string> = []
  const second = yield* client.runTurn(session.id, "And another one").pipe(
    Effect.as("started"),
    GatewayError.catchReason("ServerError", (error) => Effect.succeed(error.code ?? "no code"))
  )
  caught.push(second)

  const turn = yield* followTurn(client, session.id, started.turnId, items)

  // A Stream that fails: the turn's session does not exist.
  const missing = yield* client.turn("no-such-session", "hello").pipe(
    Stream.runDrain,
    Effect.as("ran"),
    Effect.catchIf(GatewayError.is("ServerError"), (error) => Effect.succeed(error.code ?? "no code"))
  )
  caught.push(missing)

  console.log(JSON.stringify({ sessionId: session.id, turnId: started.turnId, ...turn, caught }))
})

const token = process.env.GATEWAY_TOKEN
program.pipe(
  Effect.scoped,
  Effect.provide(
    NodeTransport.layerGatewayClient({
      url: process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787",
      token: token ? Redacted.make(token) : undefined
    })
  ),
  Effect.runPromise
)

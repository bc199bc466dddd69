import { GatewayClient, GatewayError, NodeTransport } from "@diminuendo/client"
import { Effect } from "effect"

const url = process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787"

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  // One reason, as Effect.catchTag does for a tag: the handler sees a GatewayError whose reason is "ServerError".
  const joined = yield* client.joinSession("no-such-session").pipe(
    Effect.as("joined"),
    GatewayError.catchReason("ServerError", (error) => Effect.succeed(`refused: ${error.code}`))
  )
  console.log(joined) // refused: SESSION_NOT_FOUND
  // Several reasons, with a refinement: everything else still fails the program.
  const latency = yield* client.ping.pipe(
    Effect.map((pong) => `${pong.latencyMs} ms`),
    Effect.catchIf(GatewayError.is("RequestTimeout", "ConnectionLost"), (error) => Effect.succeed(error.reason))
  )
  console.log(`ping: ${latency}`)
})

program.pipe(Effect.provide(NodeTransport.layerGatewayClient({ url })), Effect.runPromise)

import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Effect, Redacted, Stream } from "effect"

// A gateway to talk to: `npx diminuendo-gateway --port 8787` starts the testkit's (dev mode, no token).
const url = process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787"
const token = process.env.GATEWAY_TOKEN

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const session = yield* client.createSession("echo", "Bug fix")
  // The turn's events, until turn_complete.
  yield* client
    .turn(session.id, "Fix the failing test")
    .pipe(
      Stream.runForEach((item) =>
        item.type === "text_delta" ? Effect.sync(() => process.stdout.write(item.text)) : Effect.void
      )
    )
  console.log()
})

// The layer connects, and closes the connection when the program ends.
program.pipe(
  Effect.provide(NodeTransport.layerGatewayClient({ url, token: token ? Redacted.make(token) : undefined })),
  Effect.runPromise
)

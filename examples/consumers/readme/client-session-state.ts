import { GatewayClient, NodeTransport, SessionState } from "@diminuendo/client"
import { Effect, Stream } from "effect"

const url = process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787"

const render = (state: SessionState.SessionState) => {
  for (const turn of SessionState.turns(state)) {
    const calls = new Map(SessionState.toolCalls(state, turn).map((call) => [call.toolCallId, call]))
    for (const part of turn.parts) {
      if (part.type === "text") console.log(part.text)
      else if (part.type === "tool_call") {
        const call = calls.get(part.toolCallId)!
        console.log(`[${call.toolName}] ${JSON.stringify(call.args)} -> ${call.status}`)
      } else {
        const request = state.requests.find((r) => r.requestId === part.requestId)!
        console.log(`[${request.kind}] ${request.resolution ?? "waiting"}`)
      }
    }
    console.log(`${turn.status}: ${turn.usage.inputTokens} tokens in, ${turn.usage.outputTokens} out`)
  }
  if (state.gaps.length > 0) console.log(`missing events: ${JSON.stringify(state.gaps)}`)
}

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const { id } = yield* client.createSession("coding-agent")
  const session = yield* SessionState.track(client, id) // joins; stops with the scope
  yield* client.runTurn(id, "Add an add() function with a test, and run it.")
  const answered = new Set<string>()
  // Each state as it changes: answer what the agent asks, until the turn is over.
  const final = yield* session.changes.pipe(
    Stream.tap((state) =>
      Effect.forEach(SessionState.pendingRequests(state), (request) => {
        if (answered.has(request.requestId)) return Effect.void
        answered.add(request.requestId)
        if (request.kind === "permission") return client.approve(id, request.requestId)
        // Each question answered with its first option.
        const answers = Object.fromEntries(request.questions.map((q) => [q.id, q.options?.[0] ?? "yes"]))
        return client.answer(id, request.requestId, answers)
      })
    ),
    Stream.takeUntil((state) => state.currentTurnId === null && state.turnIds.length > 0),
    Stream.runLast
  )
  if (final._tag === "Some") render(final.value)
})

program.pipe(Effect.scoped, Effect.provide(NodeTransport.layerGatewayClient({ url })), Effect.runPromise)

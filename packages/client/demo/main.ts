/**
 * The main job: `pnpm demo`. Starts the testkit gateway in-process on a loopback WebSocket (or uses
 * GATEWAY_URL with GATEWAY_TOKEN), creates a session with the coding agent, runs a turn and prints
 * it live, answers the agent's question and permission request, shows usage and the files written.
 */
import { GatewayClient, type GatewayError, NodeTransport } from "@diminuendo/client"
import { Gateway, WsServer } from "@diminuendo/testkit"
import { NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"

const tty = process.stdout.isTTY === true
const paint = (code: string) => (text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text)
const dim = paint("2")
const bold = paint("1")
const cyan = paint("36")
const green = paint("32")
const yellow = paint("33")
const magenta = paint("35")
const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** Where to connect: an external gateway, or one started here. */
const endpoint = Effect.gen(function* () {
  const url = process.env.GATEWAY_URL
  if (url !== undefined && url !== "") {
    const token = process.env.GATEWAY_TOKEN
    return { url, token: token ? Redacted.make(token) : undefined, where: url }
  }
  const gateway = yield* Gateway.make({ agentStepMs: 20, heartbeatIntervalMs: 15_000 })
  const server = yield* WsServer.serve(gateway)
  return { url: server.url, token: undefined, where: `${server.url} (testkit gateway, started in-process)` }
})

const program = Effect.gen(function* () {
  const { url, token, where } = yield* endpoint
  yield* Console.log(bold("Diminuendo demo"), dim(`- gateway at ${where}`))
  const client = yield* GatewayClient.make({ url, token })
  const identity = yield* client.identity
  const state = yield* client.state.get
  const server =
    state._tag === "Connected" ? (state.gateway.serverVersion ?? "a gateway that does not say its version") : "?"
  yield* Console.log(
    dim(
      `connected to ${server} as ${identity._tag === "Some" ? identity.value.email : "(dev mode, no identity given)"}`
    )
  )
  const { latencyMs } = yield* client.ping
  yield* Console.log(dim(`ping: ${latencyMs} ms`))

  const session = yield* client.createSession("coding-agent", "Demo session")
  yield* Console.log(`${bold("session")} ${session.id} ${dim(`(${session.agentType}, ${session.status})`)}`)
  const snapshot = yield* client.joinSession(session.id)
  yield* Console.log(dim(`joined: ${snapshot.subscriberCount} subscriber(s)\n`))

  const prompt = "Add an add() function with a test, and run it."
  yield* Console.log(`${bold("you")} ${prompt}\n`)
  let atLineStart = true
  const line = (text: string) => {
    const prefix = atLineStart ? "" : "\n"
    atLineStart = true
    return write(`${prefix}${text}\n`)
  }
  yield* client.turn(session.id, prompt).pipe(
    Stream.runForEach((item) =>
      Effect.gen(function* () {
        switch (item.type) {
          case "turn_started":
            return yield* line(dim(`turn ${item.turnId} started`))
          case "sandbox_ready":
            return yield* line(dim(`sandbox ${item.sandboxId} ready`))
          case "thinking_progress":
            return yield* line(magenta(`thinking: ${item.text.trim()}`))
          case "text_delta":
            atLineStart = item.text.endsWith("\n")
            return yield* write(item.text)
          case "tool_call":
            return yield* line(cyan(`tool ${item.toolName}(${JSON.stringify(item.args)})`))
          case "tool_result":
            return yield* line(cyan(`  -> ${item.status}: ${JSON.stringify(item.output)}`))
          case "terminal_stream":
            return yield* write(dim(`  | ${item.data}`))
          case "terminal_complete":
            return yield* line(dim(`  | exit code ${item.exitCode}`))
          case "file_changed":
            return yield* line(green(`file ${item.change}: ${item.path} (iteration ${item.iteration ?? "?"})`))
          case "question_requested": {
            const question = item.questions[0]!
            const answer = question.options?.[0] ?? "yes"
            yield* line(
              yellow(`agent asks: ${question.prompt} ${dim(`[${question.options?.join(" / ") ?? "free text"}]`)}`)
            )
            yield* line(yellow(`  answering: ${answer}`))
            yield* client.answerQuestion(session.id, item.requestId, { [question.id]: answer })
            return
          }
          case "permission_requested":
            yield* line(
              yellow(`agent asks permission: ${item.description} (${item.toolName} ${JSON.stringify(item.args)})`)
            )
            yield* line(yellow("  approving"))
            yield* client.answerQuestion(session.id, item.requestId, { decision: "approve" })
            return
          case "usage_update":
            return yield* line(
              dim(
                `usage: ${item.inputTokens} in / ${item.outputTokens} out tokens${item.costUsd === undefined ? "" : `, $${item.costUsd.toFixed(4)}`}`
              )
            )
          case "turn_complete":
            return yield* line(bold(green("\nturn complete")))
          case "gap":
            return yield* line(yellow(`(events ${item.fromSeq}-${item.toSeq} are no longer available)`))
          default:
            return
        }
      })
    )
  )

  const files = yield* client.listFiles({ sessionId: session.id, path: "", depth: 0 })
  yield* Console.log(`\n${bold("files written")}`)
  for (const file of files.filter((f) => f.kind === "file")) {
    const history = yield* client.fileHistory(session.id, file.path)
    yield* Console.log(`  ${file.path} ${dim(`${file.size ?? 0} bytes, ${history.length} version(s)`)}`)
  }
  const source = yield* client.readFile(session.id, "src/add.ts")
  yield* Console.log(`\n${bold("src/add.ts")}\n${dim(source.content.trimEnd())}`)
})

const main = Effect.scoped(program).pipe(
  Effect.provide(NodeTransport.layer),
  Logger.withMinimumLogLevel(LogLevel.Warning),
  Effect.tapError((error: GatewayError | WsServer.WsServerError) => Console.error(`demo failed: ${error.message}`))
)

// runMain: Ctrl-C interrupts (closing the client and the gateway), a failure sets the exit code.
NodeRuntime.runMain(main, { disableErrorReporting: true })

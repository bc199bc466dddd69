/**
 * `pnpm gateway [--port N] [--host H] [--token T=email ...] [--step-ms N] [--no-request-ids]`:
 * starts the testkit gateway on a WebSocket and prints its URL, so another SDK or a browser can try
 * the protocol. With tokens, authentication is required (the first token's user is an admin of
 * tenant "default", the others members); without, dev mode. Ctrl-C stops it.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Gateway from "../Gateway.js"
import * as WsServer from "../WsServer.js"

const usage =
  "usage: pnpm gateway [--port N] [--host H] [--token TOKEN=email ...] [--step-ms N] [--no-request-ids] [--profile full|seed]"

const parse = (argv: ReadonlyArray<string>) => {
  const users: Array<Gateway.User> = []
  let port = 0
  let host = "127.0.0.1"
  let stepMs = 20
  let requestIds = true
  let profile: "full" | "seed" = "full"
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${arg} needs a value\n${usage}`)
      return next
    }
    if (arg === "--port") port = Number(value())
    else if (arg === "--host") host = value()
    else if (arg === "--step-ms") stepMs = Number(value())
    else if (arg === "--no-request-ids") requestIds = false
    else if (arg === "--profile") {
      const value_ = value()
      if (value_ !== "full" && value_ !== "seed") throw new Error(`--profile is full or seed\n${usage}`)
      profile = value_
    } else if (arg === "--token") {
      const [token, email] = value().split("=")
      if (!token || !email) throw new Error(`--token expects TOKEN=email\n${usage}`)
      users.push({
        token,
        identity: { userId: `user-${users.length + 1}`, email, tenantId: "default" },
        role: users.length === 0 ? "admin" : "member"
      })
    } else if (arg === "--help" || arg === "-h") throw new Error(usage)
    else throw new Error(`unknown argument ${arg}\n${usage}`)
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port\n${usage}`)
  return { users, port, host, stepMs, requestIds, profile }
}

let args: ReturnType<typeof parse>
try {
  args = parse(process.argv.slice(2).filter((a) => a !== "--"))
} catch (error) {
  console.error((error as Error).message)
  process.exit(2)
}

const program = Effect.gen(function* () {
  const gateway = yield* Gateway.make({
    users: args.users,
    agentStepMs: args.stepMs,
    requestIds: args.requestIds,
    profile: args.profile
  })
  const server = yield* WsServer.serve(gateway, { host: args.host, port: args.port })
  console.log(server.url)
  console.error(
    args.users.length === 0
      ? "dev mode: no authentication; agents: echo, coding-agent. Ctrl-C to stop."
      : `authentication required: ${args.users.map((u) => u.identity.email).join(", ")}. Ctrl-C to stop.`
  )
  // Until Ctrl-C or SIGTERM: runMain interrupts this fiber, which closes the server's scope.
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))

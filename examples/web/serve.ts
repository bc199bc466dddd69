/**
 * `pnpm web [--port N] [--gateway-port N] [--host H] [--step-ms N] [--token T=email ...]`: serves
 * the web example and runs the testkit gateway beside it (ports 5173 and 8787 by default; the
 * environment variables WEB_PORT and GATEWAY_PORT work too). With tokens, the gateway requires
 * authentication; without, dev mode. Ctrl-C stops both.
 */
import type { Gateway } from "@diminuendo/testkit"
import * as Effect from "effect/Effect"
import { start } from "./server.js"

const usage = "usage: pnpm web [--port N] [--gateway-port N] [--host H] [--step-ms N] [--token TOKEN=email ...]"

const parse = (argv: ReadonlyArray<string>) => {
  let port = Number(process.env.WEB_PORT ?? 5173)
  let gatewayPort = Number(process.env.GATEWAY_PORT ?? 8787)
  let host = "127.0.0.1"
  let stepMs = 40
  const users: Array<Gateway.User> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${arg} needs a value\n${usage}`)
      return next
    }
    if (arg === "--port") port = Number(value())
    else if (arg === "--gateway-port") gatewayPort = Number(value())
    else if (arg === "--host") host = value()
    else if (arg === "--step-ms") stepMs = Number(value())
    else if (arg === "--token") {
      const [token, email] = value().split("=")
      if (!token || !email) throw new Error(`--token expects TOKEN=email\n${usage}`)
      users.push({ token, identity: { userId: `user-${users.length + 1}`, email, tenantId: "default" } })
    } else throw new Error(`${arg === "--help" || arg === "-h" ? "" : `unknown argument ${arg}\n`}${usage}`)
  }
  for (const [name, n] of [
    ["port", port],
    ["gateway port", gatewayPort]
  ] as const) {
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid ${name}: ${n}\n${usage}`)
  }
  return { port, gatewayPort, host, stepMs, users }
}

let args: ReturnType<typeof parse>
try {
  args = parse(process.argv.slice(2).filter((a) => a !== "--"))
} catch (error) {
  console.error((error as Error).message)
  process.exit(2)
}

const program = Effect.gen(function* () {
  const started = yield* start(args)
  console.log(`web example: ${started.url}`)
  console.log(`testkit gateway: ${started.gatewayUrl} (${args.users.length === 0 ? "dev mode" : "tokens required"})`)
  console.log("Ctrl-C to stop.")
  yield* Effect.async<void>((resume) => {
    const stop = () => resume(Effect.void)
    process.once("SIGINT", stop)
    process.once("SIGTERM", stop)
  })
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)

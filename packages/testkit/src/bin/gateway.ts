#!/usr/bin/env node
/**
 * `diminuendo-gateway` (`pnpm gateway`): the testkit gateway on a WebSocket ({@link GatewayCommand}).
 * `--help` lists the options.
 */
import * as Command from "@effect/cli/Command"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as GatewayCommand from "../GatewayCommand.js"

const cli = Command.run(GatewayCommand.make("diminuendo-gateway"), {
  name: "diminuendo-gateway",
  version: "0.1.0"
})

// The help is styled with ANSI escapes: only on a terminal, and not with NO_COLOR.
const colors = process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === ""
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what it removes
const sgr = /\u001b\[[0-9;]*m/g
const plain = (args: ReadonlyArray<unknown>) =>
  args.map((arg) => (typeof arg === "string" ? arg.replace(sgr, "") : arg))
const program = Effect.flatMap(Effect.console, (console) =>
  Effect.withConsole(cli(process.argv), {
    ...console,
    log: (...args) => console.log(...plain(args)),
    error: (...args) => console.error(...plain(args))
  })
)

// Ctrl-C or SIGTERM interrupts the command, which closes the server's scope.
NodeRuntime.runMain((colors ? cli(process.argv) : program).pipe(Effect.provide(NodeContext.layer)), {
  disableErrorReporting: true
})

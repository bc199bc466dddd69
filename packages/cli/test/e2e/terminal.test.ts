/**
 * The CLI in a real terminal (tmux): prompts answered by typing, Ctrl-C, the progress line and
 * colours, checked on the screen.
 */
import { Gateway, WsServer } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ExitCode from "../../src/ExitCode.js"
import * as Tmux from "./tmux.js"

const serve = (options: Gateway.GatewayOptions = {}) =>
  Effect.gen(function* () {
    const gateway = yield* Gateway.make(options)
    const server = yield* Effect.orDie(WsServer.serve(gateway))
    return { gateway, url: server.url }
  })

describe("diminuendo in a terminal", () => {
  it.scopedLive(
    "turn: the question answered by picking an option, the permission by typing y; the screen shows the turn",
    () =>
      Effect.gen(function* () {
        const { gateway, url } = yield* serve({ agentStepMs: 5 })
        const term = yield* Tmux.open(["turn", "--new", "coding-agent", "Add an add() function", `--url=${url}`])
        yield* term.waitFor((s) => s.includes("? Which test runner should I use?") && s.includes("node:test"))
        yield* term.keys("Down", "Enter")
        yield* term.waitFor((s) => s.includes("? Allow run_command: Run the test suite"))
        yield* term.keys("y")
        const code = yield* term.exitCode()
        const screen = term.screen()
        assert.strictEqual(code, 0, screen)
        assert.include(screen, "✔ Which test runner should I use? …  node:test")
        assert.include(screen, "Using node:test.")
        assert.include(screen, "… yes")
        assert.include(screen, "│ $ npx node:test run")
        assert.include(screen, "Done: `add` is implemented and its t")
        // The gateway got the answers typed.
        const sessionId = /session (sess-[0-9a-f-]+)/.exec(screen)![1]!
        const log = yield* gateway.sessionLog(sessionId)
        assert.deepStrictEqual(
          log.filter((e) => e.type === "approval_resolved").map((e) => (e as { resolution?: string }).resolution),
          ["answered", "approved"]
        )
      })
  )

  it.scopedLive("turn: a free-text answer typed in, the permission denied with n", () =>
    Effect.gen(function* () {
      const { gateway, url } = yield* serve({ agentStepMs: 5 })
      const term = yield* Tmux.open(["turn", "--new", "coding-agent", "Add an add() function", `--url=${url}`])
      yield* term.waitFor((s) => s.includes("something else…"))
      yield* term.keys("Down", "Down", "Enter")
      yield* term.waitFor((s) => /\? Which test runner should I use\? ›\s*$/m.test(s))
      yield* term.keys("-l", "bun test")
      yield* term.keys("Enter")
      yield* term.waitFor((s) => s.includes("? Allow run_command"))
      yield* term.keys("n")
      assert.strictEqual(yield* term.exitCode(), 0, term.screen())
      const screen = term.screen()
      assert.include(screen, "Using bun test.")
      assert.include(screen, "You declined running the tests")
      const sessionId = /session (sess-[0-9a-f-]+)/.exec(screen)![1]!
      const content = yield* Effect.map(gateway.sessionLog(sessionId), (log) =>
        log.filter((e) => e.type === "approval_resolved").map((e) => (e as { resolution?: string }).resolution)
      )
      assert.deepStrictEqual(content, ["answered", "denied"])
    })
  )

  it.scopedLive("turn: Ctrl-C sends stop_turn once; the turn ends with what it had; exit 130", () =>
    Effect.gen(function* () {
      const { gateway, url } = yield* serve({ agentStepMs: 150 })
      const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ")
      const term = yield* Tmux.open(["turn", "--new", "echo", words, `--url=${url}`])
      yield* term.waitFor((s) => s.includes("Echo: word0"))
      yield* term.keys("C-c")
      yield* term.waitFor((s) => s.includes("stopping the turn (Ctrl-C again to quit)"))
      assert.strictEqual(yield* term.exitCode(), ExitCode.ExitCode.Interrupted)
      const sessionId = /session (sess-[0-9a-f-]+)/.exec(term.screen())![1]!
      const log = yield* gateway.sessionLog(sessionId)
      assert.strictEqual(log.filter((e) => e.type === "stop_acknowledged").length, 1)
      const complete = log.find((e) => e.type === "turn_complete") as { finalText: string } | undefined
      assert.isDefined(complete)
      assert.isBelow(complete!.finalText.length, `Echo: ${words}`.length)
    })
  )

  it.scopedLive("turn: a second Ctrl-C quits at once, while the turn has not ended", () =>
    Effect.gen(function* () {
      const { gateway, url } = yield* serve({ agentStepMs: 150 })
      // The end of the stopped turn never reaches the CLI.
      yield* gateway.faults.stall("turn_complete")
      const term = yield* Tmux.open(["turn", "--new", "echo", "a b c d e f g h i j k l m n o p", `--url=${url}`])
      yield* term.waitFor((s) => s.includes("Echo:"))
      yield* term.keys("C-c")
      yield* term.waitFor((s) => s.includes("stopping the turn"))
      yield* term.keys("C-c")
      assert.strictEqual(yield* term.exitCode(), ExitCode.ExitCode.Interrupted)
    })
  )

  it.scopedLive("a progress line while connecting takes over half a second, cleared once connected", () =>
    Effect.gen(function* () {
      const { gateway, url } = yield* serve()
      // The handshake is held for 4 s: the line shows after half a second of it.
      yield* gateway.faults.delay("welcome", 4000)
      const term = yield* Tmux.open(["sessions", "create", "echo", "--name", "progress", `--url=${url}`])
      const during = yield* term.waitFor((s) => s.includes(`connecting to ${url} (`))
      assert.match(during, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] connecting to ws:\/\/127\.0\.0\.1:\d+ \(\d+\.\ds\)/)
      assert.strictEqual(yield* term.exitCode(), 0)
      const after = term.screen()
      assert.notInclude(after, "connecting to")
      assert.match(after, /sess-[0-9a-f-]+ {2}progress {2}echo/)
    })
  )

  it.scopedLive("colours on a terminal, none with NO_COLOR", () =>
    Effect.gen(function* () {
      const { url } = yield* serve()
      const coloured = yield* Tmux.open(["info", `--url=${url}`])
      yield* coloured.exitCode()
      assert.include(coloured.screen(true), "\u001b[1mserver version")
      const plain = yield* Tmux.open(["info", `--url=${url}`], { NO_COLOR: "1" })
      assert.strictEqual(yield* plain.exitCode(), 0)
      assert.include(plain.screen(), "server version")
      assert.notInclude(plain.screen(true), "\u001b[1m")
    })
  )
})

/**
 * The `diminuendo` bin as a process: standard input, signals, `tail` across reconnects, and the
 * gateway command.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import { Gateway, WsServer } from "@diminuendo/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as ExitCode from "../../src/ExitCode.js"
import { jsonLines, run, start } from "./cli.js"

const serve = (options: Gateway.GatewayOptions = {}) =>
  Effect.gen(function* () {
    const gateway = yield* Gateway.make(options)
    const server = yield* Effect.orDie(WsServer.serve(gateway))
    const client = yield* GatewayClient.make({ url: server.url, pingInterval: 0 }).pipe(
      Effect.provide(NodeTransport.layer),
      Effect.orDie
    )
    return { gateway, url: server.url, client }
  })

/** A coding-agent turn, answered, run by the test's own client. */
const codingTurn = (client: GatewayClient.GatewayClient, sessionId: string, runner = "vitest") =>
  client.turn(sessionId, "Add an add() function").pipe(
    Stream.runForEach((item) =>
      item.type === "question_requested"
        ? client.answer(sessionId, item.requestId, { runner })
        : item.type === "permission_requested"
          ? client.approve(sessionId, item.requestId)
          : Effect.void
    ),
    Effect.orDie
  )

/** Polls `check` every 20 ms until it holds; fails after 10 seconds. */
const until = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.fail(new Error(`timed out waiting until ${what}`))
  })

/** The file's text, or undefined while it does not exist. */
const contentOf = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined)

describe("the diminuendo bin", () => {
  it.scopedLive("info --json, and --help without colour escapes in a pipe", () =>
    Effect.gen(function* () {
      const { url } = yield* serve()
      const info = yield* run(["info", `--url=${url}`, "--json"])
      assert.strictEqual(info.code, 0, info.stderr)
      assert.strictEqual(jsonLines(info.stdout)[0].serverVersion, "diminuendo-testkit/0.1.0")
      const help = yield* run(["--help"])
      assert.strictEqual(help.code, 0)
      assert.include(help.stdout, "COMMANDS")
      assert.notInclude(help.stdout, "\u001b[")
    })
  )

  it.scopedLive("validate - reads frames from standard input; exit 1 when one is invalid", () =>
    Effect.gen(function* () {
      const ok = yield* run(["validate", "--json"], { input: '{"type":"heartbeat","ts":1}\n' })
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.deepStrictEqual(jsonLines(ok.stdout)[0].summary.validByType, { heartbeat: 1 })
      const bad = yield* run(["validate", "-", "--direction", "client"], { input: '{"type":"ping"}\n' })
      assert.strictEqual(bad.code, ExitCode.ExitCode.InvalidFrames)
      assert.match(bad.stdout, /^line 1: InvalidMessage at ts: /)
    })
  )

  it.scopedLive("valid frames from standard input: a summary, 0 invalid, exit 0", () =>
    Effect.gen(function* () {
      const vectors = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../protocol/vectors/server")
      const frames = JSON.parse(fs.readFileSync(path.join(vectors, "text_delta.json"), "utf8")).valid.map(
        (v: { frame: string }) => v.frame
      )
      const result = yield* run(["validate", "-"], { input: `${frames.join("\n")}\n` })
      assert.strictEqual(result.code, 0, result.stdout + result.stderr)
      assert.include(result.stdout, `${frames.length} frames (server direction): ${frames.length} valid, 0 invalid`)
    })
  )

  it.scopedLive("gateway --port 0 --json prints its URL, serves, and stops on SIGINT (exit 130)", () =>
    Effect.gen(function* () {
      const gateway = yield* start(["gateway", "--port", "0", "--json", "--token", "t1=a@example.com"])
      yield* gateway.waitFor((out) => out.includes("\n"))
      const { url, requiresAuth } = jsonLines(gateway.stdout())[0]
      assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+$/)
      assert.isTrue(requiresAuth)
      const info = yield* run(["info", `--url=${url}`, "--json"], { env: { DIMINUENDO_TOKEN: "t1" } })
      assert.strictEqual(jsonLines(info.stdout)[0].identity.email, "a@example.com")
      yield* gateway.signal("SIGINT")
      assert.strictEqual((yield* gateway.exit).code, ExitCode.ExitCode.Interrupted)
    })
  )

  it.scopedLive("the testkit's diminuendo-gateway bin: --help describes every option; it serves until SIGINT", () =>
    Effect.gen(function* () {
      const gatewayBin = path.resolve(
        path.dirname(fileURLToPath(import.meta.url)),
        "../../../testkit/bin/diminuendo-gateway.js"
      )
      const help = yield* run(["--help"], { bin: gatewayBin })
      assert.strictEqual(help.code, 0, help.stderr)
      for (const option of [
        "--port N",
        "--host HOST",
        "--token TOKEN=email",
        "--step-ms MS",
        "--no-request-ids",
        "--profile"
      ])
        assert.include(help.stdout, option)
      assert.include(help.stdout, "default 8787")
      assert.notInclude(help.stdout, "\u001b[")
      const served = yield* start(["--port", "0"], { bin: gatewayBin })
      yield* served.waitFor((out) => /ws:\/\/127\.0\.0\.1:\d+\n/.test(out))
      const url = served.stdout().trim()
      const info = yield* run(["info", `--url=${url}`, "--json"])
      assert.strictEqual(jsonLines(info.stdout)[0].serverVersion, "diminuendo-testkit/0.1.0")
      yield* served.signal("SIGINT")
      yield* served.exit
    })
  )

  it.scopedLive(
    "tail --json across two drops mid-turn: every event of the session once, in seq order; reconnects on stderr; SIGINT exits 130",
    () =>
      Effect.gen(function* () {
        const { gateway, url, client } = yield* serve({ agentStepMs: 15 })
        const session = yield* gateway.createSession("dev", "coding-agent")
        const ours = (yield* gateway.connections).map((c) => c.id)
        const tail = yield* start(["tail", session.id, `--url=${url}`, "--json"])
        yield* tail.waitFor((out) => out.includes('"state_snapshot"'))
        const turn = yield* Effect.fork(codingTurn(client, session.id))
        for (const type of ["thinking_progress", "file_changed"]) {
          yield* tail.waitFor((out) => out.includes(`"type":"${type}"`))
          // Abruptly, as a network failure would: the tail's connection only.
          for (const control of yield* gateway.connections) if (!ours.includes(control.id)) yield* control.drop()
        }
        yield* Fiber.join(turn)
        yield* tail.waitFor((out) => out.includes('"type":"turn_complete"'))
        yield* tail.signal("SIGINT")
        const exit = yield* tail.exit
        assert.strictEqual(exit.code, ExitCode.ExitCode.Interrupted, exit.stderr)
        const [snapshot, ...events] = jsonLines(exit.stdout)
        assert.strictEqual(snapshot.type, "state_snapshot")
        const log = yield* gateway.sessionLog(session.id)
        assert.deepStrictEqual(
          events.map((e) => e.seq),
          log.map((e) => e.seq)
        )
        assert.deepStrictEqual(events, JSON.parse(JSON.stringify(log)))
        assert.strictEqual((exit.stderr.match(/^connection lost/gm) ?? []).length, 2, exit.stderr)
        assert.strictEqual((exit.stderr.match(/^reconnected/gm) ?? []).length, 2, exit.stderr)
      })
  )

  it.scopedLive(
    "mirror without --once: the agent's files appear in the directory, a file changed upstream changes there; SIGINT exits 130",
    () =>
      Effect.gen(function* () {
        const { gateway, url, client } = yield* serve()
        const session = yield* gateway.createSession("dev", "coding-agent")
        const root = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "cli-mirror-follow-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const dir = path.join(root, "work")
        const mirror = yield* start(["mirror", session.id, dir, `--url=${url}`])
        // Synced while the workspace is empty: what comes next, it has to follow.
        yield* mirror.waitFor((out) => out.includes("active: 0 file(s) tracked, synced "), 10_000)
        const source = path.join(dir, "src/add.ts")
        const test = path.join(dir, "test/add.test.ts")
        yield* codingTurn(client, session.id, "vitest")
        yield* until(
          "the agent's files are in the directory",
          () => contentOf(source) !== undefined && contentOf(test)?.includes("// runner: vitest") === true
        )
        assert.strictEqual(contentOf(source), "export const add = (a: number, b: number): number => a + b\n")
        // Upstream writes the test file again, with another runner: the local copy follows.
        yield* codingTurn(client, session.id, "node:test")
        yield* until("the test file changed here", () => contentOf(test)?.includes("// runner: node:test") === true)
        assert.notInclude(contentOf(test), "// runner: vitest")
        assert.isNull(mirror.child.exitCode, "the mirror still runs")
        yield* mirror.signal("SIGINT")
        const exit = yield* mirror.exit.pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("mirror did not stop on SIGINT") })
        )
        assert.strictEqual(exit.code, ExitCode.ExitCode.Interrupted, exit.stderr)
        assert.match(exit.stdout, /active: 2 file\(s\) tracked, synced /)
        assert.notInclude(exit.stdout, "conflict")
        assert.isFalse(fs.existsSync(path.join(dir, "test/add.test.upstream.ts")))
      })
  )

  it.scopedLive("tail shows a gap for events the gateway no longer had when it came back, then goes on", () =>
    Effect.gen(function* () {
      const { gateway, url, client } = yield* serve({ agentStepMs: 15 })
      const session = yield* gateway.createSession("dev", "echo")
      const ours = (yield* gateway.connections).map((c) => c.id)
      const tail = yield* start(["tail", session.id, `--url=${url}`, "--timeout", "2"])
      yield* tail.waitFor((_, err) => err.includes("following"))
      yield* codingTurnEcho(client, session.id, "first turn")
      yield* tail.waitFor((out) => out.includes("turn_complete"))
      // The tail cannot come back (its handshake stalls) until the second turn is over and forgotten.
      yield* gateway.faults.stall("welcome")
      for (const control of yield* gateway.connections) if (!ours.includes(control.id)) yield* control.drop()
      yield* codingTurnEcho(client, session.id, "second turn")
      const last = (yield* gateway.sessionLog(session.id)).at(-1)!.seq
      yield* gateway.forgetEvents(session.id)
      yield* gateway.faults.clear
      yield* codingTurnEcho(client, session.id, "third turn")
      yield* tail.waitFor((out) => out.includes("Echo: third turn"))
      yield* tail.signal("SIGINT")
      const exit = yield* tail.exit
      const lines = exit.stdout.split("\n").filter((l) => l !== "")
      const gap = lines.find((l) => l.startsWith("gap"))!
      assert.match(gap, new RegExp(`^gap\\s+events 7 to ${last} are no longer available$`))
      assert.notInclude(exit.stdout, "second turn")
    })
  )
})

const codingTurnEcho = (client: GatewayClient.GatewayClient, sessionId: string, text: string) =>
  Effect.orDie(Stream.runDrain(client.turn(sessionId, text)))

/**
 * Each command of `diminuendo`, run in this process (`Cli.program`, output captured) against the
 * testkit gateway over ws. The bin as a process, signals and a real terminal: test/e2e.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { GatewayErrorReason } from "@diminuendo/client"
import { type Agent, Gateway, WsServer } from "@diminuendo/testkit"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as ExitCode from "../src/ExitCode.js"
import { jsonLines, type Result, cli as run } from "./run.js"

// Dev mode (no token needed), with two more members in the dev tenant, whom the tests change and remove.
const helper = { token: "helper-token", identity: { userId: "u-helper", email: "helper@localhost", tenantId: "dev" } }
const leaver = { token: "leaver-token", identity: { userId: "u-leaver", email: "leaver@localhost", tenantId: "dev" } }
const served = WsServer.layer({ port: 0 }).pipe(
  Layer.provideMerge(Gateway.layer({ agentStepMs: 1, requiresAuth: false, users: [helper, leaver] })),
  Layer.orDie
)

const urlOf = Effect.map(WsServer.WsServer, (server) => `--url=${server.url}`)

const commands = [
  [],
  ["info"],
  ["sessions"],
  ["sessions", "list"],
  ["sessions", "create"],
  ["sessions", "rename"],
  ["sessions", "archive"],
  ["sessions", "unarchive"],
  ["sessions", "delete"],
  ["members"],
  ["members", "list"],
  ["members", "set-role"],
  ["members", "remove"],
  ["files"],
  ["files", "ls"],
  ["files", "cat"],
  ["files", "history"],
  ["files", "at"],
  ["history"],
  ["events"],
  ["turn"],
  ["tail"],
  ["validate"],
  ["mirror"],
  ["gateway"]
]

describe("diminuendo --help", () => {
  for (const command of commands) {
    it.live(
      `diminuendo ${[...command, "--help"].join(" ")}: exit 0, described, no colour escapes in a pipe`,
      ({ task }) =>
        Effect.gen(function* () {
          Object.assign(task.meta, { table: "cli help" })
          const result = yield* run(command.length === 0 ? [] : [...command, "--help"])
          assert.strictEqual(result.code, 0, result.stderr)
          assert.include(result.stdout, "DESCRIPTION")
          assert.include(result.stdout, "USAGE")
          assert.notInclude(result.stdout, "\u001b[")
          if (command.length > 0) assert.include(result.stdout, `$ ${command[command.length - 1]}`)
          // The options every connecting command takes are said once, not on each command's line.
          if (result.stdout.includes("COMMANDS")) {
            const entries = result.stdout.split("\n").filter((line) => line.startsWith("  - "))
            assert.isAbove(entries.length, 0)
            for (const entry of entries) assert.notInclude(entry, "[--token-file PATH]")
            assert.include(result.stdout, "Each command that connects also takes")
          }
          if (command[0] === "gateway") {
            for (const option of ["--port", "--host", "--token", "--step-ms", "--no-request-ids", "--profile"])
              assert.include(result.stdout, option)
            assert.include(result.stdout, "default 8787")
          }
        })
    )
  }
})

layer(served, { excludeTestServices: true })("diminuendo against the testkit gateway over ws", (it) => {
  it.effect("info --json: server version, protocol version, features, identity, round trip", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      const result = yield* run(["info", url, "--json"])
      assert.strictEqual(result.code, 0, result.stderr)
      const [info] = jsonLines(result.stdout)
      assert.strictEqual(info.serverVersion, "diminuendo-testkit/0.1.0")
      assert.strictEqual(info.protocolVersion, 1)
      assert.deepStrictEqual(info.features, ["requestId"])
      assert.deepStrictEqual(info.identity, { userId: "dev-user", email: "dev@localhost", tenantId: "dev" })
      assert.isAtLeast(info.latencyMs, 0)
      const human = yield* run(["info", url])
      assert.match(human.stdout, /server version\s+diminuendo-testkit\/0\.1\.0/)
      assert.match(human.stdout, /round trip\s+\d+ ms/)
    })
  )

  it.effect("sessions: create, list, rename, archive, unarchive, delete (--json parses)", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      const created = jsonLines(
        (yield* run(["sessions", "create", "echo", "--name", "CLI test", url, "--json"])).stdout
      )
      assert.strictEqual(created.length, 1)
      const id: string = created[0].id
      assert.strictEqual(created[0].name, "CLI test")
      const listed = jsonLines((yield* run(["sessions", "list", url, "--json"])).stdout)
      assert.isTrue(listed.some((s) => s.id === id))
      const renamed = jsonLines((yield* run(["sessions", "rename", id, "Renamed", url, "--json"])).stdout)
      assert.strictEqual(renamed[0].name, "Renamed")
      const archived = jsonLines((yield* run(["sessions", "archive", id, url, "--json"])).stdout)
      assert.isTrue(archived[0].archived)
      assert.isFalse(jsonLines((yield* run(["sessions", "list", url, "--json"])).stdout).some((s) => s.id === id))
      assert.isTrue(
        jsonLines((yield* run(["sessions", "list", "--archived", url, "--json"])).stdout).some((s) => s.id === id)
      )
      const unarchived = jsonLines((yield* run(["sessions", "unarchive", id, url, "--json"])).stdout)
      assert.isFalse(unarchived[0].archived)
      const human = yield* run(["sessions", "list", url])
      assert.include(human.stdout, `${id}  Renamed  echo`)
      const deleted = yield* run(["sessions", "delete", id, url, "--json"])
      assert.deepStrictEqual(jsonLines(deleted.stdout), [{ deleted: id }])
      const gone = yield* run(["sessions", "rename", id, "x", url])
      assert.strictEqual(gone.code, ExitCode.byReason.ServerError)
      assert.include(gone.stderr, "SESSION_NOT_FOUND")
    })
  )

  it.effect("members: list, set-role, remove; a removed member leaves the list", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      const members = jsonLines((yield* run(["members", "list", url, "--json"])).stdout)
      assert.deepStrictEqual(members, [
        { userId: "u-helper", email: "helper@localhost", role: "member" },
        { userId: "u-leaver", email: "leaver@localhost", role: "member" },
        { userId: "dev-user", email: "dev@localhost", role: "owner" }
      ])
      const updated = jsonLines((yield* run(["members", "set-role", "u-helper", "admin", url, "--json"])).stdout)
      assert.strictEqual(updated[0].role, "admin")
      // The dev identity is the tenant's owner: nobody changes their own role (PROTOCOL.md, Permissions).
      const own = yield* run(["members", "set-role", "dev-user", "admin", url])
      assert.strictEqual(own.code, ExitCode.byReason.ServerError)
      assert.include(own.stderr, "FORBIDDEN")
      const missing = yield* run(["members", "remove", "nobody", url])
      assert.strictEqual(missing.code, ExitCode.byReason.ServerError)
      assert.include(missing.stderr, "MEMBER_NOT_FOUND")
      const removed = yield* run(["members", "remove", "u-leaver", url, "--json"])
      assert.strictEqual(removed.code, 0, removed.stderr)
      assert.deepStrictEqual(jsonLines(removed.stdout), [{ removed: "u-leaver" }])
      const human = yield* run(["members", "remove", "u-helper", url])
      assert.strictEqual(human.code, 0, human.stderr)
      assert.strictEqual(human.stdout, "removed u-helper\n")
      const left = jsonLines((yield* run(["members", "list", url, "--json"])).stdout)
      assert.deepStrictEqual(
        left.map((m) => m.userId),
        ["dev-user"]
      )
      const again = yield* run(["members", "remove", "u-leaver", url])
      assert.include(again.stderr, "MEMBER_NOT_FOUND")
    })
  )

  it.effect(
    "turn --new coding-agent with --answer and --approve, --json: every item parses, in seq order, to turn_complete; then files, history, events",
    () =>
      Effect.gen(function* () {
        const url = yield* urlOf
        const result = yield* run([
          "turn",
          "--new",
          "coding-agent",
          "Add an add() function",
          "--answer",
          "runner=node:test",
          "--approve",
          url,
          "--json"
        ])
        assert.strictEqual(result.code, 0, result.stderr)
        const lines = jsonLines(result.stdout)
        assert.strictEqual(lines[0].type, "session_created")
        const sessionId: string = lines[0].session.id
        const items = lines.slice(1)
        assert.strictEqual(items[0].type, "turn_started")
        assert.strictEqual(items[items.length - 1].type, "turn_complete")
        const seqs = items.map((i) => i.seq)
        assert.deepStrictEqual(
          seqs,
          [...seqs].sort((a, b) => a - b)
        )
        assert.strictEqual(new Set(seqs).size, seqs.length)
        const resolved = items.filter((i) => i.type === "approval_resolved").map((i) => i.resolution)
        assert.deepStrictEqual(resolved, ["answered", "approved"])
        assert.include(items[items.length - 1].finalText, "Using node:test")
        assert.isTrue(items.some((i) => i.type === "terminal_stream"))

        const ls = jsonLines((yield* run(["files", "ls", sessionId, "--depth", "0", url, "--json"])).stdout)
        assert.deepStrictEqual(
          ls.filter((e) => e.kind === "file").map((e) => e.path),
          ["src/add.ts", "test/add.test.ts"]
        )
        const cat = yield* run(["files", "cat", sessionId, "test/add.test.ts", url])
        assert.include(cat.stdout, "// runner: node:test")
        const history = jsonLines((yield* run(["files", "history", sessionId, "src/add.ts", url, "--json"])).stdout)
        assert.strictEqual(history.length, 1)
        const at = yield* run(["files", "at", sessionId, "src/add.ts", String(history[0].iteration), url])
        assert.strictEqual(at.stdout, "export const add = (a: number, b: number): number => a + b\n")
        const missing = yield* run(["files", "cat", sessionId, "nope.txt", url])
        assert.strictEqual(missing.code, ExitCode.byReason.ServerError)

        const messages = jsonLines((yield* run(["history", sessionId, url, "--json"])).stdout)
        assert.deepStrictEqual(
          messages.map((m) => m.role),
          ["user", "assistant"]
        )
        const events = jsonLines(
          (yield* run(["events", sessionId, "--after-seq", "2", "--limit", "3", url, "--json"])).stdout
        )
        assert.deepStrictEqual(
          events.map((e) => e.seq),
          [3, 4, 5]
        )
        const humanEvents = yield* run(["events", sessionId, "--limit", "2", url])
        assert.match(humanEvents.stdout, /^\s+1 {2}turn_started/)
      })
  )

  it.effect(
    "mirror --once: the session's files; a local edit then an upstream change: a conflict with both versions; --take-upstream resolves it",
    () =>
      Effect.gen(function* () {
        const url = yield* urlOf
        const turn = (args: ReadonlyArray<string>, answer: string) =>
          run(["turn", ...args, "--answer", answer, "--approve", url, "--json"])
        const first = yield* turn(["--new", "coding-agent", "Add an add() function"], "runner=vitest")
        const sessionId: string = jsonLines(first.stdout)[0].session.id
        const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cli-mirror-")), "work")
        const synced = yield* run(["mirror", sessionId, dir, "--once", url])
        assert.strictEqual(synced.code, 0, synced.stderr)
        assert.match(synced.stdout, /active: 2 file\(s\) tracked, synced /)
        const testFile = path.join(dir, "test/add.test.ts")
        assert.include(fs.readFileSync(testFile, "utf8"), "// runner: vitest")
        fs.appendFileSync(testFile, "// mine\n")
        yield* turn([sessionId, "Again"], "runner=node:test")
        const conflicted = yield* run(["mirror", sessionId, dir, "--once", url, "--json"])
        assert.strictEqual(conflicted.code, 0, conflicted.stderr)
        const [status] = jsonLines(conflicted.stdout)
        assert.deepStrictEqual(
          status.conflicts.map((c: { path: string; upstreamPath: string }) => [c.path, c.upstreamPath]),
          [["test/add.test.ts", "test/add.test.upstream.ts"]]
        )
        assert.include(fs.readFileSync(testFile, "utf8"), "// mine")
        assert.include(fs.readFileSync(path.join(dir, "test/add.test.upstream.ts"), "utf8"), "// runner: node:test")
        const human = yield* run(["mirror", sessionId, dir, "--once", url])
        assert.include(human.stdout, "conflict: test/add.test.ts was edited here and changed upstream")
        const resolved = yield* run(["mirror", sessionId, dir, "--once", "--take-upstream", "test/add.test.ts", url])
        assert.strictEqual(resolved.code, 0, resolved.stderr)
        assert.notInclude(resolved.stdout, "conflict")
        assert.include(fs.readFileSync(testFile, "utf8"), "// runner: node:test")
        assert.isFalse(fs.existsSync(path.join(dir, "test/add.test.upstream.ts")))
        const other = yield* run(["mirror", "another-session", dir, "--once", url])
        assert.strictEqual(other.code, ExitCode.ExitCode.Mirror)
        assert.include(other.stderr, `mirrors session ${sessionId}`)
        fs.rmSync(path.dirname(dir), { recursive: true, force: true })
      })
  )

  it.effect(
    "tail --after-seq N --count K: the join's state_snapshot, then the logged events after N, in order; --after-seq -1 is a usage error",
    () =>
      Effect.gen(function* () {
        const url = yield* urlOf
        const turn = yield* run(["turn", "--new", "echo", "one two three four five six", url, "--json"])
        const sessionId: string = jsonLines(turn.stdout)[0].session.id
        const log = jsonLines((yield* run(["events", sessionId, url, "--json"])).stdout)
        assert.isAtLeast(log.length, 6)
        // Bounded: without the replay, tail would follow a session where nothing happens any more.
        const tail = (args: ReadonlyArray<string>) =>
          run(["tail", sessionId, ...args, url]).pipe(
            Effect.timeoutFail({
              duration: "10 seconds",
              onTimeout: () => new Error(`tail ${args.join(" ")}: no exit`)
            })
          )
        const middle = yield* tail(["--after-seq", "2", "--count", "3", "--json"])
        assert.strictEqual(middle.code, 0, middle.stderr)
        const [snapshot, ...events] = jsonLines(middle.stdout)
        assert.strictEqual(snapshot.type, "state_snapshot")
        assert.strictEqual(snapshot.session.id, sessionId)
        assert.deepStrictEqual(events, log.filter((e) => e.seq > 2).slice(0, 3))
        const all = yield* tail(["--after-seq", "0", "--count", String(log.length), "--json"])
        assert.deepStrictEqual(jsonLines(all.stdout).slice(1), log)
        const last = log[log.length - 1]
        const human = yield* tail(["--after-seq", String(last.seq - 1), "--count", "1"])
        assert.strictEqual(human.code, 0, human.stderr)
        assert.match(human.stdout, new RegExp(`^\\s*${last.seq} {2}${last.type}`))
        assert.strictEqual(human.stdout.split("\n").length, 2)
        const negative = yield* run(["tail", sessionId, "--after-seq", "-1", url])
        assert.strictEqual(negative.code, ExitCode.ExitCode.Usage)
      })
  )

  it.effect("turn in a pipe with nothing to answer the question: the turn is stopped, exit 3", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      const result = yield* run(["turn", "--new", "coding-agent", "hello", url])
      assert.strictEqual(result.code, ExitCode.ExitCode.Unanswered, result.stderr)
      assert.include(result.stderr, "--answer runner=VALUE")
      assert.include(result.stdout, "Let me look at the project")
    })
  )

  it.effect("turn, human output: text, thinking, tool calls and results, terminal output", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      const result = yield* run(["turn", "--new", "coding-agent", "hi", "--answer", "runner=vitest", "--deny", url])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "thinking: Reading the request.")
      assert.include(result.stdout, '▸ read_file({"path":"package.json"})')
      assert.include(result.stdout, "? Which test runner should I use? vitest (--answer runner)")
      assert.include(result.stdout, "denied (--deny)")
      assert.include(result.stdout, "You declined running the tests")
      assert.match(result.stderr, /^session sess-/)
    })
  )

  it.effect("usage errors exit 2; a session id with --new is refused", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      assert.strictEqual((yield* run(["info", "--bogus", url])).code, ExitCode.ExitCode.Usage)
      assert.strictEqual((yield* run(["turn", "s", "text", "--new", "echo", url])).code, ExitCode.ExitCode.Usage)
      assert.strictEqual((yield* run(["turn", "text", "--approve", "--deny", url])).code, ExitCode.ExitCode.Usage)
      assert.strictEqual((yield* run(["info", "--timeout", "0", url])).code, ExitCode.ExitCode.Usage)
      assert.strictEqual((yield* run(["nonsense"])).code, ExitCode.ExitCode.Usage)
    })
  )

  it.effect("DIMINUENDO_URL is used when --url is not given", () =>
    Effect.gen(function* () {
      const url = (yield* urlOf).slice("--url=".length)
      const result = yield* run(["info", "--json"], { DIMINUENDO_URL: url })
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(jsonLines(result.stdout)[0].url, url)
    })
  )
})

describe("exit codes and the token", () => {
  const withAuthGateway = <A, E>(f: (url: string) => Effect.Effect<A, E>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({
          users: [{ token: "s3cret-token", identity: { userId: "u1", email: "u1@example.com", tenantId: "t" } }]
        })
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        return yield* f(server.url)
      })
    )

  it.live("ConnectionFailed: 10 (nothing listens)", () =>
    Effect.gen(function* () {
      const result = yield* run(["info", "--url=ws://127.0.0.1:1", "--timeout", "2"])
      assert.strictEqual(result.code, ExitCode.byReason.ConnectionFailed)
      assert.include(result.stderr, "ConnectionFailed")
    })
  )

  it.live("AuthRequired: 11; AuthFailed: 12; the token from --token-file or DIMINUENDO_TOKEN, never printed", () =>
    withAuthGateway((url) =>
      Effect.gen(function* () {
        const required = yield* run(["sessions", "list", `--url=${url}`])
        assert.strictEqual(required.code, ExitCode.byReason.AuthRequired, required.stderr)
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-token-"))
        const wrong = path.join(dir, "wrong")
        fs.writeFileSync(wrong, "not-the-token\n")
        const failed = yield* run(["sessions", "list", `--url=${url}`, "--token-file", wrong])
        assert.strictEqual(failed.code, ExitCode.byReason.AuthFailed, failed.stderr)
        assert.notInclude(failed.stdout + failed.stderr, "not-the-token")
        const right = path.join(dir, "right")
        fs.writeFileSync(right, "s3cret-token\n")
        const ok = yield* run(["info", `--url=${url}`, "--token-file", right, "--json"])
        assert.strictEqual(ok.code, 0, ok.stderr)
        assert.strictEqual(jsonLines(ok.stdout)[0].identity.email, "u1@example.com")
        // From the environment; a failing request afterwards prints no token either.
        const env = yield* run(["sessions", "rename", "nope", "x", `--url=${url}`], {
          DIMINUENDO_TOKEN: "s3cret-token"
        })
        assert.strictEqual(env.code, ExitCode.byReason.ServerError, env.stderr)
        assert.notInclude(env.stdout + env.stderr, "s3cret-token")
        const missingFile = yield* run(["info", `--url=${url}`, "--token-file", path.join(dir, "absent")])
        assert.strictEqual(missingFile.code, ExitCode.ExitCode.Usage)
        fs.rmSync(dir, { recursive: true, force: true })
      })
    )
  )

  it.live("RequestTimeout: 14 (the gateway never answers)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const gateway = yield* Gateway.make()
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        yield* gateway.faults.stall("session_list")
        const result = yield* run(["sessions", "list", `--url=${server.url}`, "--timeout", "1"])
        assert.strictEqual(result.code, ExitCode.byReason.RequestTimeout, result.stderr)
      })
    )
  )

  it.live("TurnFailed: 19", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const gateway = yield* Gateway.make({ agents: { broken: () => Effect.fail("the agent broke") } })
        const server = yield* Effect.orDie(WsServer.serve(gateway))
        const result = yield* run(["turn", "--new", "broken", "hi", `--url=${server.url}`])
        assert.strictEqual(result.code, ExitCode.byReason.TurnFailed, result.stderr)
        assert.include(result.stderr, "AGENT_ERROR")
      })
    )
  )
})

/** Polls `check` every 20 ms until it holds; fails after 5 seconds. */
const until = (what: string, check: Effect.Effect<boolean>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250; i++) {
      if (yield* check) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.fail(new Error(`timed out waiting until ${what}`))
  })

const serve = (options: Gateway.GatewayOptions = {}) =>
  Effect.gen(function* () {
    const gateway = yield* Gateway.make(options)
    const server = yield* Effect.orDie(WsServer.serve(gateway))
    return { gateway, url: `--url=${server.url}` }
  })

/** The testkit gateway greeting as a gateway of another protocol version would: its `welcome` says `version`. */
const speaking = (gateway: Gateway.Gateway, version: number): Gateway.Gateway => ({
  ...gateway,
  accept: (peer) =>
    gateway.accept({
      ...peer,
      write: (frame) => {
        const event = JSON.parse(frame)
        return peer.write(event.type === "welcome" ? JSON.stringify({ ...event, protocolVersion: version }) : frame)
      }
    })
})

/**
 * Streams 10,000 deltas while its permission request is open. The command, waiting for the gateway
 * to confirm its `--approve`, reads none of them meanwhile: its turn stream falls more than the
 * client's 4,096 events behind.
 */
const chatty: Agent.Agent = (turn) =>
  Effect.gen(function* () {
    const asked = yield* Effect.fork(turn.askPermission("run_command", "Run the test suite"))
    yield* Effect.yieldNow()
    for (let i = 0; i < 10_000; i++) yield* turn.emit({ type: "text_delta", text: "." })
    yield* Fiber.join(asked)
  })

const tenantUser = (token: string) => ({ token, identity: { userId: "u1", email: "u1@example.com", tenantId: "t" } })

interface Scenario {
  readonly reason: GatewayErrorReason
  /** As README.md documents it. */
  readonly code: number
  readonly how: string
  /** Runs the command in its scenario. */
  readonly run: Effect.Effect<Result, Error, Scope.Scope>
  /** What stderr says besides the reason. */
  readonly says: string
  readonly check?: (result: Result) => void
}

/**
 * The reasons the tests above do not produce, each through what makes it happen.
 *
 * Not here: `Closed` (21), the client's scope closing while an operation is pending. Nothing a
 * command does produces it: each command makes its requests inside `withClient`'s scope, in the
 * fiber whose end closes that scope, so when the client closes the command has already ended, with
 * its own result (or 130, Ctrl-C having interrupted it). The fibers a command forks (`tail`'s notes,
 * `turn`'s Ctrl-C handler, `mirror`'s status lines) are interrupted before the client closes, and
 * their failures are not the command's. The code stays in the table for scripts that switch on it.
 */
const scenarios: ReadonlyArray<Scenario> = [
  {
    reason: "IncompatibleProtocol",
    code: 13,
    how: "the gateway's welcome says protocol version 2",
    run: Effect.gen(function* () {
      const gateway = speaking(yield* Gateway.make(), 2)
      const server = yield* Effect.orDie(WsServer.serve(gateway))
      return yield* run(["info", `--url=${server.url}`])
    }),
    says: "the gateway speaks protocol version 2; this client speaks 1"
  },
  {
    reason: "NotConnected",
    code: 15,
    how: "tail: the gateway restarts and refuses the token when the client reconnects",
    run: Effect.gen(function* () {
      const first = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(first, Exit.void))
      const before = yield* Gateway.make({ users: [tenantUser("t-1")] }).pipe(Scope.extend(first))
      const server = yield* Effect.orDie(WsServer.serve(before)).pipe(Scope.extend(first))
      const session = yield* before.createSession("t", "echo")
      const tail = yield* Effect.fork(run(["tail", session.id, `--url=${server.url}`], { DIMINUENDO_TOKEN: "t-1" }))
      yield* until(
        "the tail joined",
        Effect.map(before.connections, (all) => all.some((c) => c.joined().includes(session.id)))
      )
      yield* Scope.close(first, Exit.void)
      // Back on the same port, and "t-1" is no longer a token it knows.
      const after = yield* Gateway.make({ users: [tenantUser("t-2")] })
      yield* WsServer.serve(after, { port: server.port }).pipe(
        Effect.retry({ times: 50, schedule: Schedule.spaced("20 millis") }),
        Effect.orDie
      )
      return yield* Fiber.join(tail)
    }),
    says: "AUTH_FAILED",
    check: (result) => assert.include(result.stderr, "connection closed: AUTH_FAILED")
  },
  {
    reason: "NotConnected",
    code: 15,
    how: "turn: the gateway goes away for good mid-turn; reconnecting gives up after --timeout",
    run: Effect.gen(function* () {
      const first = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(first, Exit.void))
      // Only the server goes: the gateway would end its turns on the way out.
      const gateway = yield* Gateway.make({ agentStepMs: 100 })
      const server = yield* Effect.orDie(WsServer.serve(gateway)).pipe(Scope.extend(first))
      const session = yield* gateway.createSession("dev", "echo")
      const turn = yield* Effect.fork(
        run([
          "turn",
          session.id,
          "a turn long enough to be cut off in the middle",
          `--url=${server.url}`,
          "--timeout=1"
        ])
      )
      yield* until(
        "the turn streams",
        Effect.map(gateway.sessionLog(session.id), (log) => log.some((e) => e.type === "text_delta"))
      )
      yield* Scope.close(first, Exit.void)
      return yield* Fiber.join(turn)
    }),
    says: "gave up reconnecting"
  },
  {
    reason: "ConnectionLost",
    code: 16,
    how: "turn: the connection drops after run_turn was sent, before the gateway confirmed it",
    run: Effect.gen(function* () {
      const { gateway, url } = yield* serve()
      const session = yield* gateway.createSession("dev", "echo")
      yield* gateway.faults.stall("turn_started")
      const turn = yield* Effect.fork(run(["turn", session.id, "hello", url]))
      yield* until(
        "the turn started",
        Effect.map(gateway.sessionLog(session.id), (log) => log.some((e) => e.type === "turn_started"))
      )
      for (const connection of yield* gateway.connections) yield* connection.drop()
      return yield* Fiber.join(turn)
    }),
    says: "after run_turn was sent"
  },
  {
    reason: "ProtocolError",
    code: 18,
    how: "events --limit -1: the client's codec refuses to send the request",
    run: Effect.gen(function* () {
      const { gateway, url } = yield* serve()
      const session = yield* gateway.createSession("dev", "echo")
      return yield* run(["events", session.id, "--limit", "-1", url])
    }),
    says: "limit"
  },
  {
    reason: "SlowConsumer",
    code: 20,
    how: "turn: the agent streams 10,000 events while the command waits for its --approve to be confirmed",
    run: Effect.gen(function* () {
      const { url } = yield* serve({ agents: { chatty } })
      return yield* run(["turn", "--new", "chatty", "hi", "--approve", url, "--json"])
    }),
    says: "fell more than 4096 events behind",
    check: (result) => assert.notInclude(result.stdout, "turn_complete")
  }
]

describe("exit codes: each GatewayError reason through what makes it happen", () => {
  for (const scenario of scenarios) {
    it.live(`${scenario.reason}: ${scenario.code} (${scenario.how})`, ({ task }) =>
      Effect.gen(function* () {
        Object.assign(task.meta, { table: "cli exit codes" })
        const result = yield* scenario.run.pipe(
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`${scenario.reason}: no exit`) }),
          Effect.scoped
        )
        assert.strictEqual(ExitCode.byReason[scenario.reason], scenario.code)
        assert.strictEqual(result.code, scenario.code, result.stderr)
        assert.include(result.stderr, `diminuendo: ${scenario.reason}: `)
        assert.include(result.stderr, scenario.says)
        scenario.check?.(result)
      })
    )
  }

  it("every reason's code is produced by a test, but Closed's, which nothing produces", () => {
    const elsewhere = ["ConnectionFailed", "AuthRequired", "AuthFailed", "RequestTimeout", "ServerError", "TurnFailed"]
    const produced = [...new Set([...elsewhere, ...scenarios.map((s) => s.reason), "Closed"])].sort()
    assert.deepStrictEqual(produced, Object.keys(ExitCode.byReason).sort())
  })
})

/**
 * Each command of `diminuendo`, run in this process (`Cli.program`, output captured) against the
 * testkit gateway over ws. The bin as a process, signals and a real terminal: test/e2e.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Gateway, WsServer } from "@diminuendo/testkit"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ExitCode from "../src/ExitCode.js"
import { jsonLines, cli as run } from "./run.js"

// Dev mode (no token needed), with one more member in the dev tenant whose role the tests change.
const helper = { token: "helper-token", identity: { userId: "u-helper", email: "helper@localhost", tenantId: "dev" } }
const served = WsServer.layer({ port: 0 }).pipe(
  Layer.provideMerge(Gateway.layer({ agentStepMs: 1, requiresAuth: false, users: [helper] })),
  Layer.orDie
)

const urlOf = Effect.map(WsServer.WsServer, (server) => `--url=${server.url}`)

const commands = [
  [],
  ["info"],
  ["sessions"],
  ["sessions", "create"],
  ["sessions", "rename"],
  ["sessions", "delete"],
  ["members"],
  ["members", "set-role"],
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

  it.effect("members: list, set-role, remove", () =>
    Effect.gen(function* () {
      const url = yield* urlOf
      const members = jsonLines((yield* run(["members", "list", url, "--json"])).stdout)
      assert.deepStrictEqual(members, [
        { userId: "u-helper", email: "helper@localhost", role: "member" },
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

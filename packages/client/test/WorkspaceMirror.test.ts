import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import type { ServerEvent } from "@diminuendo/protocol"
import { Gateway, InMemory } from "@diminuendo/testkit"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as GatewayClient from "../src/GatewayClient.js"
import * as Transport from "../src/Transport.js"
import * as WorkspaceMirror from "../src/WorkspaceMirror.js"
import { overWs } from "./harness.js"

/** A temporary directory removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "mirror-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** The files under `dir` (the mirror's journal folder aside), with their content. */
const localFiles = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(nodePath.join(dir, at), { withFileTypes: true })) {
      const rel = at === "" ? entry.name : `${at}/${entry.name}`
      if (rel === WorkspaceMirror.journalFolder) continue
      if (entry.isDirectory()) walk(rel)
      else out[rel] = fs.readFileSync(nodePath.join(dir, rel), "utf8")
    }
  }
  walk("")
  return out
}

/** The gateway's files for a session, read through a client. */
const gatewayFiles = (client: GatewayClient.GatewayClient, sessionId: string) =>
  Effect.gen(function* () {
    const entries = yield* client.listFiles({ sessionId, path: "", depth: 0 })
    const out: Record<string, string> = {}
    for (const entry of entries) {
      if (entry.kind === "file") out[entry.path] = (yield* client.readFile(sessionId, entry.path)).content
    }
    return out
  })

/** Runs a coding-agent turn to its end, answering its question and permission. */
const codingTurn = (client: GatewayClient.GatewayClient, sessionId: string, runner = "vitest") =>
  client
    .turn(sessionId, "Add an add() function")
    .pipe(
      Stream.runForEach((item) =>
        item.type === "question_requested"
          ? client.answer(sessionId, item.requestId, { runner })
          : item.type === "permission_requested"
            ? client.approve(sessionId, item.requestId)
            : Effect.void
      )
    )

/** Waits until the mirror's status satisfies `predicate`. */
const until = (mirror: WorkspaceMirror.WorkspaceMirror, predicate: (s: WorkspaceMirror.MirrorStatus) => boolean) =>
  mirror.status.changes.pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("10 seconds"),
    Effect.orDie
  )

/** A client of the in-memory gateway whose sent frames are recorded. */
const recordingClient = (gateway: Gateway.Gateway, sent: Array<{ type: string; path?: string }>) =>
  GatewayClient.make({ url: "memory://gateway", pingInterval: 0 }).pipe(
    Effect.provideService(Transport.Transport, {
      open: () =>
        Effect.map(InMemory.connect(gateway), (connection) => ({
          ...connection,
          send: (frame: string) => {
            sent.push(JSON.parse(frame))
            return connection.send(frame)
          }
        }))
    })
  )

describe("WorkspaceMirror", () => {
  it.scopedLive("mirrors a coding-agent turn as it writes files: the directory equals the gateway's files", () =>
    Effect.gen(function* () {
      const { gateway, client } = yield* overWs.setup({ agentStepMs: 1 })
      const c = yield* client()
      const dir = yield* tempDir
      const session = yield* gateway.createSession("dev", "coding-agent")
      const mirror = yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
      assert.deepStrictEqual(localFiles(dir), {})
      yield* codingTurn(c, session.id)
      const expected = yield* gatewayFiles(c, session.id)
      assert.deepStrictEqual(Object.keys(expected).sort(), ["src/add.ts", "test/add.test.ts"])
      yield* until(mirror, (s) => s.filesTracked === 2)
      assert.deepStrictEqual(localFiles(dir), expected)
      const status = yield* mirror.status.get
      assert.strictEqual(status.state, "active")
      assert.deepStrictEqual(status.conflicts, [])
      assert.isDefined(status.lastSyncAt)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive(
    "a local edit then an upstream change to the same file: a conflict, both versions kept, resolved either way",
    () =>
      Effect.gen(function* () {
        const { gateway, client } = yield* overWs.setup({ agentStepMs: 0 })
        const c = yield* client()
        const dir = yield* tempDir
        const session = yield* gateway.createSession("dev", "coding-agent")
        const mirror = yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
        yield* codingTurn(c, session.id, "vitest")
        yield* until(mirror, (s) => s.filesTracked === 2)
        const testFile = nodePath.join(dir, "test/add.test.ts")
        const edited = `${fs.readFileSync(testFile, "utf8")}// my local note\n`
        fs.writeFileSync(testFile, edited)
        yield* codingTurn(c, session.id, "node:test")
        const upstream = (yield* c.readFile(session.id, "test/add.test.ts")).content
        assert.include(upstream, "node:test")
        const status = yield* until(mirror, (s) => s.conflicts.length === 1)
        const conflict = status.conflicts[0]!
        assert.strictEqual(conflict.path, "test/add.test.ts")
        assert.strictEqual(conflict.change, "modified")
        assert.strictEqual(conflict.upstreamPath, "test/add.test.upstream.ts")
        // Nothing lost: the local edit where it was, upstream's version next to it.
        assert.strictEqual(fs.readFileSync(testFile, "utf8"), edited)
        assert.strictEqual(fs.readFileSync(nodePath.join(dir, "test/add.test.upstream.ts"), "utf8"), upstream)
        // src/add.ts, not edited here, followed upstream.
        assert.strictEqual(
          fs.readFileSync(nodePath.join(dir, "src/add.ts"), "utf8"),
          (yield* c.readFile(session.id, "src/add.ts")).content
        )

        yield* mirror.keepLocal("test/add.test.ts")
        assert.strictEqual(fs.readFileSync(testFile, "utf8"), edited)
        assert.isFalse(fs.existsSync(nodePath.join(dir, "test/add.test.upstream.ts")))
        assert.deepStrictEqual((yield* mirror.status.get).conflicts, [])
        const noConflict = yield* Effect.either(mirror.keepLocal("test/add.test.ts"))
        assert.isTrue(Either.isLeft(noConflict) && noConflict.left.reason === "NoConflict")

        // Still a local edit: the next upstream change conflicts again; this time take upstream's.
        yield* codingTurn(c, session.id, "jest")
        yield* until(mirror, (s) => s.conflicts.length === 1)
        yield* mirror.takeUpstream("test/add.test.ts")
        assert.strictEqual(
          fs.readFileSync(testFile, "utf8"),
          (yield* c.readFile(session.id, "test/add.test.ts")).content
        )
        assert.deepStrictEqual(localFiles(dir), yield* gatewayFiles(c, session.id))
        assert.deepStrictEqual((yield* mirror.status.get).conflicts, [])
      }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive(
    "an upstream deletion removes an unedited file; an edited one is kept as a conflict until resolved",
    () =>
      Effect.gen(function* () {
        const { gateway, client } = yield* overWs.setup({ agentStepMs: 0 })
        const c = yield* client()
        const dir = yield* tempDir
        const session = yield* gateway.createSession("dev", "coding-agent")
        const mirror = yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
        yield* codingTurn(c, session.id)
        yield* until(mirror, (s) => s.filesTracked === 2)
        fs.appendFileSync(nodePath.join(dir, "test/add.test.ts"), "// mine\n")
        // The testkit's agents never delete: the gateway announces deletions itself, next in the log.
        const control = (yield* gateway.connections)[0]!
        let seq = (yield* gateway.sessionLog(session.id)).length + 1
        for (const path of ["src/add.ts", "test/add.test.ts"]) {
          const event: ServerEvent.FileChanged = {
            type: "file_changed",
            sessionId: session.id,
            seq: seq++,
            ts: 0,
            path,
            change: "deleted"
          }
          yield* Effect.orDie(control.send(event))
        }
        const status = yield* until(mirror, (s) => s.conflicts.length === 1 && s.filesTracked === 1)
        assert.isFalse(fs.existsSync(nodePath.join(dir, "src/add.ts")))
        assert.include(fs.readFileSync(nodePath.join(dir, "test/add.test.ts"), "utf8"), "// mine")
        assert.deepStrictEqual(
          status.conflicts.map((x) => [x.path, x.change, x.upstreamPath]),
          [["test/add.test.ts", "deleted", undefined]]
        )
        yield* mirror.takeUpstream("test/add.test.ts")
        assert.isFalse(fs.existsSync(nodePath.join(dir, "test/add.test.ts")))
        const after = yield* mirror.status.get
        assert.strictEqual(after.filesTracked, 0)
        assert.deepStrictEqual(after.conflicts, [])
      }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("the connection dropped mid-turn: paused, then the directory catches up with the gateway", () =>
    Effect.gen(function* () {
      const { gateway, client } = yield* overWs.setup({ agentStepMs: 2 })
      const c = yield* client()
      const dir = yield* tempDir
      const session = yield* gateway.createSession("dev", "coding-agent")
      const mirror = yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
      const states: Array<string> = []
      yield* mirror.status.changes.pipe(
        Stream.runForEach((s) => Effect.sync(() => states.push(s.state))),
        Effect.forkScoped
      )
      const turn = yield* Effect.fork(codingTurn(c, session.id))
      // Drop after the first file is written, while the second is on its way.
      yield* c.sessionEvents(session.id).pipe(
        Stream.filter((item) => item.type === "file_changed"),
        Stream.runHead
      )
      for (const control of yield* gateway.connections) yield* control.drop()
      yield* Fiber.join(turn)
      yield* until(mirror, (s) => s.filesTracked === 2 && s.state === "active")
      assert.deepStrictEqual(localFiles(dir), yield* gatewayFiles(c, session.id))
      assert.include(states, "paused")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("a restart resumes from the journal: unchanged files are not fetched again, changed ones are", () =>
    Effect.gen(function* () {
      const gateway = yield* Gateway.make({ agentStepMs: 0 })
      const dir = yield* tempDir
      const session = yield* gateway.createSession("dev", "coding-agent")
      const first: Array<{ type: string; path?: string }> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const c = yield* recordingClient(gateway, first)
          const mirror = yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
          yield* codingTurn(c, session.id)
          yield* until(mirror, (s) => s.filesTracked === 2)
        })
      )
      assert.isAbove(first.filter((m) => m.type === "read_file").length, 0)

      // While the mirror is down, the agent rewrites test/add.test.ts only (src/add.ts is the same).
      yield* Effect.scoped(
        Effect.gen(function* () {
          const c = yield* recordingClient(gateway, [])
          yield* codingTurn(c, session.id, "node:test")
        })
      )
      const second: Array<{ type: string; path?: string }> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const c = yield* recordingClient(gateway, second)
          yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
          assert.deepStrictEqual(localFiles(dir), yield* gatewayFiles(c, session.id))
        })
      )
      const reads = second.filter((m) => m.type === "read_file").map((m) => m.path)
      // The mirror's own reads come before gatewayFiles' reads of both files.
      assert.deepStrictEqual(reads.slice(0, reads.length - 2), ["test/add.test.ts"])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("paths that escape the directory are refused and nothing is written outside it", () =>
    Effect.gen(function* () {
      const { gateway, client } = yield* overWs.setup({ agentStepMs: 0 })
      const c = yield* client()
      const outside = yield* tempDir
      const dir = nodePath.join(yield* tempDir, "mirror")
      const session = yield* gateway.createSession("dev", "echo")
      const mirror = yield* WorkspaceMirror.make(c, { sessionId: session.id, directory: dir })
      // A link inside the directory that points outside it.
      fs.symlinkSync(outside, nodePath.join(dir, "link"))
      fs.writeFileSync(nodePath.join(outside, "target.txt"), "outside")
      fs.symlinkSync(nodePath.join(outside, "target.txt"), nodePath.join(dir, "file-link"))
      const hostile = [
        "../escaped.txt",
        "a/../../escaped.txt",
        `/${nodePath.join(outside, "absolute.txt")}`,
        "..\\escaped.txt",
        "C:/escaped.txt",
        "",
        "nul\u0000.txt",
        ".diminuendo/mirror.json",
        "link/through-link.txt",
        "file-link"
      ]
      const control = (yield* gateway.connections)[0]!
      // Next in the session's log, so the client delivers them in order.
      let seq = (yield* gateway.sessionLog(session.id)).length + 1
      for (const path of hostile) {
        const event: ServerEvent.FileChanged = {
          type: "file_changed",
          sessionId: session.id,
          seq: seq++,
          ts: 0,
          path,
          change: "modified",
          iteration: seq
        }
        yield* Effect.orDie(control.send(event))
      }
      const status = yield* until(mirror, (s) => s.refused.length === hostile.length)
      assert.deepStrictEqual(
        status.refused.map((r) => r.path),
        hostile
      )
      assert.deepStrictEqual(fs.readdirSync(outside).sort(), ["target.txt"])
      assert.strictEqual(fs.readFileSync(nodePath.join(outside, "target.txt"), "utf8"), "outside")
      assert.isFalse(fs.existsSync(nodePath.join(nodePath.dirname(dir), "escaped.txt")))
      assert.strictEqual(status.state, "active")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  describe("checkPath", () => {
    const table: ReadonlyArray<[string, string | ReadonlyArray<string>]> = [
      ["src/add.ts", ["src", "add.ts"]],
      ["./src//add.ts", ["src", "add.ts"]],
      ["..", "escapes the directory (..)"],
      ["a/../b", "escapes the directory (..)"],
      ["/etc/passwd", "is absolute"],
      ["C:\\x", "contains a backslash"],
      ["c:/x", "is absolute"],
      ["", "is empty"],
      ["./", "is empty"],
      ["a\u0000b", "contains a NUL character"],
      [".diminuendo/mirror.json", "is under .diminuendo/, the mirror's own folder"]
    ]
    for (const [path, expected] of table) {
      it(`${JSON.stringify(path)}`, ({ task }) => {
        Object.assign(task.meta, { table: "mirror paths" })
        const result = WorkspaceMirror.checkPath(path)
        if (typeof expected === "string") assert.deepStrictEqual(result, Either.left(expected))
        else assert.deepStrictEqual(result, Either.right(expected))
      })
    }
  })

  it.prop(
    "checkPath: any path it accepts resolves inside the directory, outside the journal's folder",
    [
      fc.array(fc.constantFrom("..", ".", "", "a", "b.ts", ".diminuendo", "\\", "C:", "\u0000", " ", "~", "%2e%2e"), {
        maxLength: 6
      }),
      fc.boolean()
    ],
    ([parts, absolute], ctx) => {
      const meta = ctx.task.meta as { property?: boolean; cases?: number }
      meta.property = true
      meta.cases = (meta.cases ?? 0) + 1
      const path = `${absolute ? "/" : ""}${parts.join("/")}`
      const root = "/work/mirror"
      Either.match(WorkspaceMirror.checkPath(path), {
        onLeft: () => undefined,
        onRight: (segments) => {
          const resolved = nodePath.posix.resolve(root, ...segments)
          assert.isTrue(resolved.startsWith(`${root}/`), `${JSON.stringify(path)} -> ${resolved}`)
          assert.isFalse(resolved.startsWith(`${root}/${WorkspaceMirror.journalFolder}/`), JSON.stringify(path))
          assert.notInclude(resolved, "\\")
        }
      })
    },
    { fastCheck: { numRuns: 500 } }
  )

  it("upstream versions are named next to the file", () => {
    assert.strictEqual(WorkspaceMirror.upstreamName("src/add.ts"), "src/add.upstream.ts")
    assert.strictEqual(WorkspaceMirror.upstreamName("test/add.test.ts"), "test/add.test.upstream.ts")
    assert.strictEqual(WorkspaceMirror.upstreamName("Makefile"), "Makefile.upstream")
    assert.strictEqual(WorkspaceMirror.upstreamName("a.b/.gitignore"), "a.b/.gitignore.upstream")
  })
})

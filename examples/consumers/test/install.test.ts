/**
 * The packed packages as a user gets them (`pnpm test:install`; the global setup packs and installs
 * them with npm outside the workspace): one copy of `effect` and of every peer, every peer met, the
 * tarballs' contents, the consumers and README examples type-checked under strict settings with both
 * module resolutions, then run against a testkit gateway started from the installed tarball; the
 * installed `diminuendo` bin, and a cluster follower on SQLite against that gateway.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { GatewayClient, NodeTransport } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { inject } from "vitest"
import { dir, modules, packageDir, readJson, typeCheck } from "./installed.js"
import * as Processes from "./processes.js"

const ours = ["protocol", "client", "testkit", "cluster", "cli"] as const

/** Every `effect` directory on disk under node_modules, at any depth. */
const copiesOf = (name: string, under = modules): ReadonlyArray<string> =>
  fs.readdirSync(under, { withFileTypes: true }).flatMap((entry) => {
    if (!entry.isDirectory()) return []
    const here = path.join(under, entry.name)
    if (entry.name.startsWith("@")) return copiesOf(name, here)
    const found = path.relative(modules, here) === name || here.endsWith(`${path.sep}node_modules${path.sep}${name}`)
    const nested = path.join(here, "node_modules")
    return [...(found ? [path.relative(dir, here)] : []), ...(fs.existsSync(nested) ? copiesOf(name, nested) : [])]
  })

interface LsNode {
  readonly version?: string
  readonly dependencies?: Record<string, LsNode>
}

/** Every version of `name` in an `npm ls --all --json` tree. */
const versionsIn = (tree: LsNode, name: string): ReadonlySet<string> => {
  const versions = new Set<string>()
  const walk = (node: LsNode) => {
    for (const [dep, child] of Object.entries(node.dependencies ?? {})) {
      if (dep === name && child.version !== undefined) versions.add(child.version)
      walk(child)
    }
  }
  walk(tree)
  return versions
}

describe("the packed packages, installed with npm outside the workspace", () => {
  it.live(
    "npm i effect@3 ./diminuendo-*.tgz gives one copy of effect and meets every peer dependency; so do the later installs (cluster with its peers, cli)",
    () =>
      Effect.gen(function* () {
        const first = JSON.parse(inject("firstInstallTree")) as LsNode & { readonly problems?: ReadonlyArray<string> }
        assert.deepStrictEqual(first.problems ?? [], [])
        assert.deepStrictEqual([...versionsIn(first, "effect")].length, 1)

        // After the consumers' own dependencies and TypeScript, the cluster with its peers and the cli too.
        const now = yield* Processes.run("npm", ["ls", "--all", "--json"], { cwd: dir })
        const tree = JSON.parse(now.stdout) as LsNode & { readonly problems?: ReadonlyArray<string> }
        assert.deepStrictEqual(tree.problems ?? [], [])
        assert.strictEqual(now.code, 0)
        assert.deepStrictEqual(copiesOf("effect"), ["node_modules/effect"])
        assert.isTrue([...versionsIn(tree, "effect")].every((v) => v.startsWith("3.")))

        // Each package (the cli's own `effect` dependency too), and each of their peers, finds that one copy.
        const effect = createRequire(path.join(dir, "package.json")).resolve("effect")
        for (const name of ours) {
          const manifest = readJson(path.join(packageDir(`@diminuendo/${name}`), "package.json"))
          const from = createRequire(path.join(packageDir(`@diminuendo/${name}`), "package.json"))
          assert.strictEqual(from.resolve("effect"), effect, name)
          for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
            const peerDir = path.dirname(from.resolve(`${peer}/package.json`))
            assert.strictEqual(copiesOf(peer).length, 1, `${peer}, a peer of ${name}, has one copy`)
            assert.strictEqual(createRequire(path.join(peerDir, "package.json")).resolve("effect"), effect, peer)
          }
        }
        // The cluster's and the cli's dependencies on the other packages are met by the tarballs.
        for (const name of ours)
          assert.deepStrictEqual(copiesOf(`@diminuendo/${name}`), [`node_modules/@diminuendo/${name}`])
      })
  )

  it("the tarballs hold their build, sources, README and LICENSE; the protocol its JSON Schema and vectors; manifests without workspace ranges", () => {
    for (const name of ours) {
      const root = packageDir(`@diminuendo/${name}`)
      const manifest = readJson(path.join(root, "package.json"))
      for (const file of [
        "dist/index.js",
        "dist/index.d.ts",
        "dist/index.js.map",
        "src/index.ts",
        "README.md",
        "LICENSE"
      ])
        assert.isTrue(fs.existsSync(path.join(root, file)), `${name}: ${file}`)
      assert.notInclude(JSON.stringify(manifest), "workspace:")
      assert.notInclude(JSON.stringify(manifest), "catalog:")
      assert.strictEqual(manifest.license, "MIT")
      for (const field of ["description", "keywords", "repository", "engines"]) assert.isDefined(manifest[field], field)
      if (name === "cli") {
        // An application: its own effect (deduplicated with the project's), its bin built.
        assert.deepStrictEqual(manifest.sideEffects, [])
        assert.match(manifest.dependencies.effect, /^\^3\./)
        assert.deepStrictEqual(manifest.bin, { diminuendo: "./dist/bin/diminuendo.js" })
        assert.isTrue(fs.existsSync(path.join(root, "dist", "bin", "diminuendo.js")))
      } else {
        assert.strictEqual(manifest.sideEffects, false)
        assert.match(manifest.peerDependencies.effect, /^\^3\./)
        assert.notProperty(manifest.dependencies ?? {}, "effect")
      }
      // Relative links in the README point at files of the package.
      const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
      for (const [, target] of readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue
        assert.isTrue(
          fs.existsSync(path.join(root, target!)),
          `${name}/README.md links to ${target}, not in the tarball`
        )
      }
    }
    const protocol = packageDir("@diminuendo/protocol")
    assert.isTrue(fs.existsSync(path.join(protocol, "schema", "protocol.schema.json")))
    assert.lengthOf(
      fs.readdirSync(path.join(protocol, "vectors", "client")).filter((f) => f.endsWith(".json")),
      22
    )
    assert.lengthOf(
      fs.readdirSync(path.join(protocol, "vectors", "server")).filter((f) => f.endsWith(".json")),
      55
    )
  })

  it.live(
    "the consumers (the cluster follower too) and README examples type-check: strict, exactOptionalPropertyTypes, moduleResolution node16 (and run from what it emits)",
    () =>
      Effect.gen(function* () {
        const result = yield* typeCheck("tsconfig.node16.json")
        assert.strictEqual(result.stdout, "")
        assert.strictEqual(result.code, 0)
      }),
    { timeout: 200_000 }
  )

  it.live("the installed diminuendo bin: --help exits 0 and lists its commands", () =>
    Effect.gen(function* () {
      const bin = path.join(dir, "node_modules", ".bin", "diminuendo")
      assert.isTrue(fs.existsSync(bin), "npm linked the cli's bin")
      const result = yield* Processes.run(bin, ["--help"], { cwd: dir })
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "diminuendo 0.1.0")
      const commands = new Set([...result.stdout.matchAll(/^ {2}- ([a-z-]+)/gm)].map((match) => match[1]))
      assert.deepStrictEqual([...commands].sort(), [
        "events",
        "files",
        "gateway",
        "history",
        "info",
        "members",
        "mirror",
        "sessions",
        "tail",
        "turn",
        "validate"
      ])
    })
  )
})

class Gateway extends Context.Tag("install/Gateway")<Gateway, { readonly url: string }>() {}

const GatewayLive = Layer.scoped(
  Gateway,
  Effect.map(Processes.gateway(dir), (url) => ({ url }))
)

/** A node program compiled by the node16 type-check (the test above) into `out/`. */
const program = (file: string) => path.join(dir, "out", file.replace(/\.ts$/, ".js"))

/** The gateway's own record of a session, read by a client of this workspace. */
const eventsOf = (url: string, sessionId: string) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient.GatewayClient
    return yield* client.getEvents({ sessionId, limit: 1000 })
  }).pipe(Effect.provide(NodeTransport.layerGatewayClient({ url })))

layer(GatewayLive, { excludeTestServices: true, timeout: "60 seconds" })(
  "consumers of the installed packages, against a testkit gateway started from the installed tarball",
  (it) => {
    it.scoped(
      "backend service: its HTTP API (@effect/platform-node) composed with the client's Layer creates sessions, runs turns and maps typed failures to statuses",
      () =>
        Effect.gen(function* () {
          const { url } = yield* Gateway
          const service = yield* Processes.service("node", [program("src/backend-service.ts")], {
            cwd: dir,
            env: { GATEWAY_URL: url, PORT: "0", GATEWAY_TOKEN: undefined }
          })
          const base = yield* service.waitFor(/Listening on (http:\/\/[0-9.:]+)/)
          const call = (method: string, route: string, body?: unknown) =>
            Effect.promise(async () => {
              const response = await fetch(`${base}${route}`, {
                method,
                headers: { "content-type": "application/json" },
                ...(body === undefined ? {} : { body: JSON.stringify(body) })
              })
              return { status: response.status, body: await response.json() }
            })

          const health = yield* call("GET", "/health")
          assert.strictEqual(health.status, 200)
          assert.strictEqual(health.body.gateway, "up")
          assert.isAtLeast(health.body.latencyMs, 0)

          const created = yield* call("POST", "/sessions", { agentType: "echo", name: "from the service" })
          assert.strictEqual(created.status, 201)
          assert.deepInclude(created.body, { agentType: "echo", name: "from the service" })
          const turn = yield* call("POST", `/sessions/${created.body.id}/turns`, { text: "hello" })
          assert.deepStrictEqual([turn.status, turn.body.text], [200, "Echo: hello"])

          const coding = yield* call("POST", "/sessions", { agentType: "coding-agent" })
          const codingTurn = yield* call("POST", `/sessions/${coding.body.id}/turns`, { text: "add a function" })
          assert.strictEqual(codingTurn.status, 200)
          assert.deepInclude(codingTurn.body, { questions: 1, permissions: 1 })
          const log = yield* eventsOf(url, coding.body.id)
          const complete = log.find((e): e is ServerEvent.TurnComplete => e.type === "turn_complete")
          assert.strictEqual(codingTurn.body.text, complete?.finalText)
          assert.deepStrictEqual(
            log.flatMap((e) => (e.type === "approval_resolved" ? [e.resolution] : [])),
            ["answered", "denied"]
          )

          const unknown = yield* call("POST", "/sessions", { agentType: "nope" })
          assert.deepStrictEqual([unknown.status, unknown.body.code], [400, "UNKNOWN_AGENT"])
          const missing = yield* call("POST", "/sessions/no-such-session/turns", { text: "hello" })
          assert.deepStrictEqual([missing.status, missing.body.code], [404, "SESSION_NOT_FOUND"])
          const bad = yield* call("POST", "/sessions", { agent: "echo" })
          assert.deepStrictEqual([bad.status, bad.body.code], [400, "BAD_REQUEST"])

          // SIGTERM: the server and the gateway connection close, and the process exits cleanly.
          const stopped = yield* service.stop("SIGTERM")
          assert.strictEqual(stopped.code, 0, stopped.stderr)
        })
    )

    it.scoped(
      "app: follows a session's Stream through a coding-agent turn (question answered, permission approved) and catches TURN_IN_PROGRESS and a failed Stream's SESSION_NOT_FOUND",
      () =>
        Effect.gen(function* () {
          const { url } = yield* Gateway
          const result = yield* Processes.run("node", [program("src/app.ts")], {
            cwd: dir,
            env: { GATEWAY_URL: url, GATEWAY_TOKEN: undefined }
          })
          assert.strictEqual(result.code, 0, result.stderr)
          const report = JSON.parse(result.stdout.trim().split("\n").at(-1)!)
          assert.deepStrictEqual(report.caught, ["TURN_IN_PROGRESS", "SESSION_NOT_FOUND"])
          assert.deepStrictEqual(report.resolutions, ["answered", "approved"])
          assert.strictEqual(report.gaps, 0)
          assert.strictEqual(report.text, report.finalText)

          const log = (yield* eventsOf(url, report.sessionId)).filter((e) => e.type !== "unknown")
          const started = log.find((e) => e.type === "turn_started" && e.turnId === report.turnId)!
          const complete = log.find((e) => e.type === "turn_complete" && e.turnId === report.turnId)!
          assert.strictEqual(report.finalText, (complete as ServerEvent.TurnComplete).finalText)
          // Every event of the turn, once, in order.
          assert.deepStrictEqual(
            report.seqs,
            log.filter((e) => e.seq >= started.seq && e.seq <= complete.seq).map((e) => e.seq)
          )
        })
    )

    it.scoped(
      "validator: holds itself to the shipped conformance vectors, then accepts or answers each frame with the error a gateway sends",
      () =>
        Effect.gen(function* () {
          const vectors = path.join(packageDir("@diminuendo/protocol"), "vectors", "client")
          const cases = fs
            .readdirSync(vectors)
            .map((file) => readJson(path.join(vectors, file)))
            .reduce((n, file) => n + file.valid.length + file.invalid.length, 0)
          const frames: ReadonlyArray<readonly [string, unknown]> = [
            [
              JSON.stringify({ type: "run_turn", sessionId: "s1", text: "hi" }),
              { accepted: { type: "run_turn", sessionId: "s1", text: "hi" } }
            ],
            [
              JSON.stringify({ type: "run_turn", sessionId: "s1", text: "  " }),
              { reply: { type: "error", code: "INVALID_MESSAGE", message: "run_turn.text: is blank" } }
            ],
            [
              JSON.stringify({ type: "run_turn", text: "hi" }),
              { reply: { type: "error", code: "INVALID_MESSAGE", message: "run_turn.sessionId: is missing" } }
            ],
            [
              JSON.stringify({ type: "launch_rockets" }),
              {
                reply: {
                  type: "error",
                  code: "UNKNOWN_TYPE",
                  message: 'launch_rockets.type: unknown client message type "launch_rockets"'
                }
              }
            ],
            [
              '{"type":"ping","ts":9223372036854775807}',
              {
                reply: {
                  type: "error",
                  code: "INVALID_MESSAGE",
                  message: "ping.ts: expected epoch milliseconds (non-negative safe integer), got 9223372036854775807"
                }
              }
            ],
            [
              JSON.stringify({ type: "run_turn", sessionId: "s1", text: "x".repeat(1024 * 1024) }),
              {
                reply: {
                  type: "error",
                  code: "FRAME_TOO_LARGE",
                  message: "message: frame exceeds the maximum of 1048576 bytes"
                }
              }
            ]
          ]
          const result = yield* Processes.run("node", [program("src/validator.ts")], {
            cwd: dir,
            input: `${frames.map(([frame]) => frame).join("\n")}\n`
          })
          assert.strictEqual(result.code, 0, result.stderr)
          assert.include(result.stderr, `conformance vectors: all ${cases} cases agree`)
          const lines = result.stdout
            .trim()
            .split("\n")
            .map((line) => JSON.parse(line))
          assert.deepStrictEqual(
            lines,
            frames.map(([, verdict]) => verdict)
          )
        })
    )

    it.scoped("diminuendo info --url <gateway>: the installed cli talks to the installed testkit gateway", () =>
      Effect.gen(function* () {
        const { url } = yield* Gateway
        const bin = path.join(dir, "node_modules", ".bin", "diminuendo")
        const result = yield* Processes.run(bin, ["info", "--url", url], {
          cwd: dir,
          env: { GATEWAY_TOKEN: undefined }
        })
        assert.strictEqual(result.code, 0, result.stderr)
        assert.match(result.stdout, new RegExp(`^gateway +${url.replace(/[.]/g, "\\.")}\n`))
        assert.match(result.stdout, /\nserver version +diminuendo-testkit\/0\.1\.0\n/)
        assert.match(result.stdout, /\nprotocol version +1\n/)
        assert.match(result.stdout, /\nround trip +\d+ ms\n$/)
      })
    )

    it.scoped(
      "cluster follower: @diminuendo/cluster on layerSqlite follows a session through a turn, each event handled once, in the gateway's order, in the offset's transaction",
      () =>
        Effect.gen(function* () {
          const { url } = yield* Gateway
          const database = path.join(dir, "..", `cluster-${Date.now()}.db`)
          const result = yield* Processes.run("node", [program("src/cluster-follower.ts")], {
            cwd: dir,
            env: { GATEWAY_URL: url, GATEWAY_TOKEN: undefined, DATABASE: database }
          })
          assert.strictEqual(result.code, 0, result.stderr)
          // The report, among the follower's logs.
          const report = JSON.parse(
            result.stdout
              .split("\n")
              .filter((line) => line.startsWith("{"))
              .at(-1)!
          )
          assert.isAbove(report.logged.length, 2)
          assert.deepStrictEqual(report.handled, report.logged)
          assert.include(report.types, "turn_complete")
          assert.deepInclude(report.status, {
            sessionId: report.sessionId,
            following: true,
            lastSeq: report.logged.at(-1),
            failedAttempts: 0
          })
        }),
      { timeout: 90_000 }
    )

    const readmeExamples: ReadonlyArray<readonly [file: string, check: (stdout: string) => void, input?: string]> = [
      ["readme/client-quickstart.ts", (out) => assert.strictEqual(out, "Echo: Fix the failing test\n")],
      [
        "readme/client-session-state.ts",
        (out) => {
          assert.include(out, "[question] answered\n")
          assert.include(out, "[permission] approved\n")
          assert.match(out, /\ncomplete: \d+ tokens in, \d+ out\n$/)
        }
      ],
      ["readme/client-errors.ts", (out) => assert.match(out, /^refused: SESSION_NOT_FOUND\nping: \d+ ms\n$/)],
      ["readme/client-transports.ts", (out) => assert.match(out, /^\d+ session\(s\)\n$/)],
      [
        "readme/protocol-validate.ts",
        (out) =>
          assert.strictEqual(
            out,
            [
              "run_turn: accepted",
              JSON.stringify({ type: "error", code: "INVALID_MESSAGE", message: "run_turn.sessionId: is missing" }),
              ""
            ].join("\n")
          ),
        `${JSON.stringify({ type: "run_turn", sessionId: "s1", text: "hi" })}\n${JSON.stringify({ type: "run_turn", text: "hi" })}\n`
      ],
      [
        "readme/protocol-stream-decode.ts",
        (out) =>
          assert.strictEqual(
            out,
            "rejected: text_delta.seq: expected a sequence number (non-negative safe integer), got -2\ntext: Hello, world\n"
          ),
        [
          { type: "text_delta", sessionId: "s1", turnId: "t1", seq: 1, ts: 1, text: "Hello, " },
          { type: "text_delta", sessionId: "s1", turnId: "t1", seq: -2, ts: 2, text: "oops" },
          { type: "text_delta", sessionId: "s1", turnId: "t1", seq: 2, ts: 3, text: "world" }
        ]
          .map((event) => `${JSON.stringify(event)}\n`)
          .join("")
      ],
      ["readme/testkit-in-memory.ts", (out) => assert.match(out, /^\d+ events received, \d+ logged\n$/)],
      [
        "readme/client-workspace-mirror.ts",
        (out) => assert.strictEqual(out, "export const add = (a: number, b: number): number => a + b\n")
      ]
    ]
    for (const [file, check, input] of readmeExamples) {
      it.scoped(`README example ${file} runs as written and ends by itself (GATEWAY_TOKEN unset)`, ({ task }) =>
        Effect.gen(function* () {
          Object.assign(task.meta, { table: "README examples" })
          const { url } = yield* Gateway
          const result = yield* Processes.run("node", [program(file)], {
            cwd: dir,
            env: { GATEWAY_URL: url, GATEWAY_TOKEN: undefined },
            timeout: "30 seconds",
            ...(input === undefined ? {} : { input })
          })
          assert.strictEqual(result.code, 0, result.stderr)
          assert.strictEqual(result.stderr, "")
          check(result.stdout)
        })
      )
    }
  }
)

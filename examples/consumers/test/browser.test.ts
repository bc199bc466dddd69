/**
 * The installed client in a real browser (`pnpm test:install`, after the global setup installed
 * the tarballs): esbuild bundles `browser/app.ts` and the README's browser example from the
 * installed packages, as a user's bundler would; Debian's Chromium runs them against a testkit
 * gateway on a loopback WebSocket, with and without a Content-Security-Policy that forbids eval.
 * The bundle's size is written to test-output/bundle-size.json and must match the client README's.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"
import type { ServerEvent } from "@diminuendo/protocol"
import { Gateway, WsServer } from "@diminuendo/testkit"
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as esbuild from "esbuild"
import type { Browser, Page } from "playwright-core"
import { launch } from "../../web/test/chromium.js"
import { dir, typeCheck } from "./installed.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const output = path.join(here, "..", "test-output")
const readme = path.join(here, "..", "..", "..", "packages", "client", "README.md")
const vectors = path.join(dir, "node_modules", "@diminuendo", "protocol", "vectors")

interface Bundle {
  readonly code: Uint8Array
  readonly minified: number
  readonly gzipped: number
  /** The bundled modules, by path, with the bytes each left in the output. */
  readonly inputs: Record<string, number>
}

/** Bundles a file of the installed project as a user's esbuild build would. */
const bundle = (entry: string) =>
  Effect.promise(async (): Promise<Bundle> => {
    const built = await esbuild.build({
      entryPoints: [path.join(dir, entry)],
      absWorkingDir: dir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      metafile: true,
      write: false,
      logLevel: "silent"
    })
    const code = built.outputFiles[0]!.contents
    const out = Object.values(built.metafile.outputs)[0]!
    return {
      code,
      minified: code.byteLength,
      gzipped: zlib.gzipSync(code, { level: 9 }).byteLength,
      inputs: Object.fromEntries(Object.entries(out.inputs).map(([file, { bytesInOutput }]) => [file, bytesInOutput]))
    }
  })

/** The page's strict policy: scripts from the page's origin only, and no eval. */
const strictPolicy = "default-src 'none'; script-src 'self'; connect-src 'self' ws://127.0.0.1:*"

/** A page that records CSP violations from its first script on, then runs `script`. */
const page = (script: string) =>
  `<!doctype html><meta charset="utf-8"><title>diminuendo</title><script src="/violations.js"></script><script type="module" src="/${script}"></script>`

const recordViolations = `window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.violatedDirective + " " + e.blockedURI));`

const serve = (files: ReadonlyMap<string, { readonly type: string; readonly body: string | Uint8Array }>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: http.Server; readonly url: string }>((resume) => {
      const server = http.createServer((request, response) => {
        const url = new URL(request.url ?? "/", "http://localhost")
        const csp = url.pathname.startsWith("/strict/") ? { "content-security-policy": strictPolicy } : {}
        const file = files.get(url.pathname.replace(/^\/strict\//, "/"))
        if (url.pathname === "/favicon.ico") return void response.writeHead(204).end()
        if (file === undefined) return void response.writeHead(404).end()
        response.writeHead(200, { "content-type": file.type, "cache-control": "no-store", ...csp }).end(file.body)
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as { port: number }
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${address.port}` }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

class Env extends Context.Tag("consumers/test/Env")<
  Env,
  {
    readonly browser: Browser
    readonly gateway: Gateway.Gateway
    readonly gatewayUrl: string
    readonly url: string
    readonly app: Bundle
    readonly example: Bundle
  }
>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function* () {
    const gateway = yield* Gateway.make({ agentStepMs: 15 })
    const ws = yield* Effect.orDie(WsServer.serve(gateway))
    const [app, example] = yield* Effect.all([bundle("browser/app.ts"), bundle("readme/client-browser.ts")])
    const files = new Map<string, { readonly type: string; readonly body: string | Uint8Array }>([
      ["/", { type: "text/html", body: page("app.js") }],
      ["/violations.js", { type: "text/javascript", body: recordViolations }],
      ["/app.js", { type: "text/javascript", body: app.code }],
      ["/readme/", { type: "text/html", body: page("readme.js") }],
      ["/readme.js", { type: "text/javascript", body: example.code }]
    ])
    const names = ["client", "server"].flatMap((side) =>
      fs.readdirSync(path.join(vectors, side)).map((file) => `${side}/${file}`)
    )
    files.set("/vectors/", { type: "application/json", body: JSON.stringify(names) })
    for (const name of names)
      files.set(`/vectors/${name}`, { type: "application/json", body: fs.readFileSync(path.join(vectors, name)) })
    const { url } = yield* serve(files)
    const browser = yield* launch
    return { browser, gateway, gatewayUrl: ws.url, url, app, example }
  })
)

/** A fresh page at `route`, with what it reports as a page error or a console error. */
const open = (route: string) =>
  Effect.gen(function* () {
    const { browser, url, gatewayUrl } = yield* Env
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext()),
      (context) => Effect.promise(() => context.close())
    )
    const tab = yield* Effect.promise(() => context.newPage())
    const problems: Array<string> = []
    tab.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
    tab.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text())
    })
    yield* Effect.promise(() => tab.goto(`${url}${route}?gateway=${encodeURIComponent(gatewayUrl)}`))
    return { tab, problems }
  })

const stage = (tab: Page, name: string) =>
  Effect.promise(() =>
    tab.waitForFunction((name) => (window as any).stage === name || (window as any).stage === "failed", name, {
      timeout: 30_000
    })
  )

interface Report {
  readonly error?: string
  readonly evalAllowed: boolean
  /** The page's CSP violations when the app started, before it tried eval itself. */
  readonly violations: ReadonlyArray<string>
  readonly vectors: { readonly cases: number; readonly failures: ReadonlyArray<string> }
  readonly sessionId: string
  readonly turnId: string
  readonly text: string
  readonly finalText: string | null
  readonly seqs: ReadonlyArray<number>
  readonly gaps: number
  readonly resolutions: ReadonlyArray<string>
  readonly states: ReadonlyArray<string>
  readonly connected: boolean
}

/** Runs the browser consumer at `route`, dropping its connection once the turn's text streams. */
const runTurn = (route: string) =>
  Effect.gen(function* () {
    const { gateway } = yield* Env
    const { tab, problems } = yield* open(route)
    yield* stage(tab, "text")
    const before = yield* gateway.connections
    assert.lengthOf(before, 1)
    yield* before[0]!.drop()
    yield* stage(tab, "done")
    const report = (yield* Effect.promise(() => tab.evaluate(() => (window as any).report))) as Report
    assert.isUndefined(report.error)
    // The gateway's own record of the turn: the page saw every event of it once, in order.
    const log = yield* gateway.sessionLog(report.sessionId)
    const started = log.find((e) => e.type === "turn_started" && e.turnId === report.turnId)!
    const complete = log.find((e): e is ServerEvent.TurnComplete => e.type === "turn_complete")!
    assert.deepStrictEqual(
      report.seqs,
      log.filter((e) => e.seq >= started.seq && e.seq <= complete.seq).map((e) => e.seq)
    )
    assert.strictEqual(report.gaps, 0)
    assert.strictEqual(report.text, complete.finalText)
    assert.strictEqual(report.finalText, complete.finalText)
    assert.deepStrictEqual(report.resolutions, ["answered", "approved"])
    // Connected, dropped, and connected again (a state repeats when it gains details, as the identity).
    const states = report.states.filter((state, i) => state !== report.states[i - 1])
    assert.deepStrictEqual(states, ["Connected", "Reconnecting", "Connecting", "Connected"])
    assert.isTrue(report.connected)
    // Every conformance vector, both directions, through the bundled codecs.
    const total = ["client", "server"]
      .flatMap((side) => fs.readdirSync(path.join(vectors, side)).map((f) => path.join(vectors, side, f)))
      .reduce((n, file) => {
        const { valid, invalid } = JSON.parse(fs.readFileSync(file, "utf8"))
        return n + valid.length + invalid.length
      }, 0)
    assert.deepStrictEqual(report.vectors, { cases: total, failures: [] })
    return { report, problems }
  })

/** "432.1 KB minified, 130.2 KB gzipped" as the client README states it. */
const stated = () => {
  const match = fs.readFileSync(readme, "utf8").match(/([\d.]+) KB minified, ([\d.]+) KB gzipped/)
  return match === null ? undefined : { minified: Number(match[1]) * 1000, gzipped: Number(match[2]) * 1000 }
}

layer(EnvLive, { excludeTestServices: true, timeout: "90 seconds" })("the installed client in Chromium", (it) => {
  it.effect(
    "the page, the consumers and the README examples type-check: strict, exactOptionalPropertyTypes, moduleResolution bundler",
    () =>
      Effect.gen(function* () {
        const result = yield* typeCheck("tsconfig.bundler.json")
        assert.strictEqual(result.stdout, "")
        assert.strictEqual(result.code, 0)
      }),
    { timeout: 200_000 }
  )

  it.effect(
    "the README's browser example bundles without Node code, with effect tree-shaken, to the size the client README states",
    () =>
      Effect.gen(function* () {
        const { example, app } = yield* Env
        for (const { inputs } of [example, app]) {
          const files = Object.keys(inputs)
          assert.deepStrictEqual(
            files.filter((f) =>
              /node_modules\/(ws|@effect\/platform-node)\/|NodeTransport|WorkspaceMirror|^node:/.test(f)
            ),
            []
          )
          // Modules that only a whole-namespace import of effect would keep.
          assert.deepStrictEqual(
            files.filter((f) =>
              /effect\/dist\/esm\/(internal\/stm\/|internal\/mailbox|Arbitrary|FastCheck|JSONSchema)/.test(f)
            ),
            []
          )
          // The package's own: one copy of each, from the installed tarballs.
          assert.isTrue(files.some((f) => f.startsWith("node_modules/@diminuendo/client/dist/")))
        }
        const effectBytes = Object.entries(example.inputs)
          .filter(([file]) => file.startsWith("node_modules/effect/"))
          .reduce((n, [, bytes]) => n + bytes, 0)
        const sizes = { minified: example.minified, gzipped: example.gzipped, effect: effectBytes }
        fs.mkdirSync(output, { recursive: true })
        fs.writeFileSync(path.join(output, "bundle-size.json"), `${JSON.stringify(sizes, null, 2)}\n`)
        const readmeSizes = stated()
        assert.isDefined(readmeSizes, "the client README states the bundle size")
        // Within 5%: a change that grows the bundle updates the README (test-output/bundle-size.json has the figures).
        assert.approximately(example.minified, readmeSizes!.minified, readmeSizes!.minified * 0.05)
        assert.approximately(example.gzipped, readmeSizes!.gzipped, readmeSizes!.gzipped * 0.05)
      })
  )

  it.scoped(
    "a coding-agent turn over the browser's WebSocket: question answered, permission approved, a forced drop survived with resume; every vector agrees",
    () =>
      Effect.gen(function* () {
        const { report, problems } = yield* runTurn("/")
        assert.isTrue(report.evalAllowed)
        assert.deepStrictEqual(report.violations, [])
        assert.deepStrictEqual(problems, [])
      })
  )

  it.scoped(
    "under a Content-Security-Policy without 'unsafe-eval': the codec falls back from generated code and the same turn and vectors pass",
    () =>
      Effect.gen(function* () {
        const { report, problems } = yield* runTurn("/strict/")
        // The policy held: the codec's probe for code generation, at load, was refused.
        assert.isFalse(report.evalAllowed)
        assert.deepStrictEqual(report.violations, ["script-src eval"])
        assert.deepStrictEqual(problems, [])
      })
  )

  it.scoped("the client README's browser example runs as written", () =>
    Effect.gen(function* () {
      const { tab, problems } = yield* open("/readme/")
      yield* Effect.promise(() =>
        tab.waitForFunction(
          () => document.querySelector("output")?.textContent === "Echo: Hello from the browser",
          null,
          {
            timeout: 30_000
          }
        )
      )
      assert.deepStrictEqual(problems, [])
    })
  )
})

/**
 * The web example's server: bundles `src/main.ts` with esbuild (the client from its TypeScript
 * sources), serves the page over HTTP, and runs the testkit gateway on a WebSocket in the same
 * process. `serve.ts` runs it from the command line (`pnpm web`); the browser test starts it too.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Gateway, WsServer } from "@diminuendo/testkit"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as esbuild from "esbuild"

const here = path.dirname(fileURLToPath(import.meta.url))

export interface ServerOptions {
  /** @default "127.0.0.1" */
  readonly host?: string
  /** The page's HTTP port; 0 picks a free one. @default 5173 */
  readonly port?: number
  /** The gateway's WebSocket port; 0 picks a free one. @default 8787 */
  readonly gatewayPort?: number
  /** Pause between the agents' steps, so a turn can be watched. @default 40 */
  readonly stepMs?: number
  /** Tokens the gateway accepts (then authentication is required); none: dev mode. */
  readonly users?: ReadonlyArray<Gateway.User>
}

export interface Started {
  /** The page: `http://host:port/`. */
  readonly url: string
  /** `ws://host:port`, the page's default. */
  readonly gatewayUrl: string
  readonly gateway: Gateway.Gateway
}

export class ServerError extends Error {}

/** Bundles the page's script once; the client and Effect come from their sources. */
const bundle = Effect.tryPromise({
  try: () =>
    esbuild.build({
      entryPoints: [path.join(here, "src", "main.ts")],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      conditions: ["diminuendo-source"],
      minify: true,
      sourcemap: "linked",
      outdir: "/",
      write: false,
      logLevel: "silent"
    }),
  catch: (cause) => new ServerError(`bundling src/main.ts failed: ${String(cause)}`)
})

const listen = (server: http.Server, host: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<number, ServerError>((resume) => {
      server.once("error", (cause) =>
        resume(Effect.fail(new ServerError(`cannot listen on ${host}:${port}: ${cause.message}`)))
      )
      server.listen(port, host, () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : port))
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** Starts the gateway and the page's server; closing the scope stops both. */
export const start = (options: ServerOptions = {}): Effect.Effect<Started, ServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? "127.0.0.1"
    const gateway = yield* Gateway.make({ agentStepMs: options.stepMs ?? 40, users: options.users ?? [] })
    const ws = yield* WsServer.serve(gateway, { host, port: options.gatewayPort ?? 8787 }).pipe(
      Effect.mapError((e) => new ServerError(`gateway: ${e.message}`))
    )
    const built = yield* bundle
    const files = new Map<string, { readonly type: string; readonly body: string | Uint8Array }>()
    for (const file of built.outputFiles) {
      const type = file.path.endsWith(".map") ? "application/json" : "text/javascript"
      files.set(`/${path.basename(file.path)}`, { type, body: file.contents })
    }
    for (const [name, type] of [
      ["index.html", "text/html"],
      ["style.css", "text/css"]
    ] as const) {
      files.set(`/${name}`, { type, body: yield* Effect.promise(() => fs.readFile(path.join(here, name))) })
    }
    files.set("/", files.get("/index.html")!)
    files.set("/config.json", {
      type: "application/json",
      body: JSON.stringify({ gatewayPort: ws.port, requiresAuth: (options.users ?? []).length > 0 })
    })
    const server = http.createServer((request, response) => {
      const file = files.get(new URL(request.url ?? "/", "http://localhost").pathname)
      if (file === undefined) {
        response.writeHead(404, { "content-type": "text/plain" }).end("not found")
        return
      }
      response.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body)
    })
    const port = yield* listen(server, host, options.port ?? 5173)
    return { url: `http://${host}:${port}/`, gatewayUrl: ws.url, gateway }
  })

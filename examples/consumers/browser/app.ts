/**
 * The browser consumer, bundled by esbuild from the installed packages and loaded by
 * `test/browser.test.ts` in Chromium. It runs the protocol's conformance vectors through the codecs
 * (under a CSP without 'unsafe-eval' too), then a coding-agent turn over the browser's own WebSocket
 * (`WebSocketTransport.layerGlobal`), answering the question and approving the permission, while
 * the test drops its connection once. It reports on `window.report`; `window.stage` says how far
 * it got. `?gateway=ws://...` is the gateway.
 */
import { ConnectionState, GatewayClient, WebSocketTransport } from "@diminuendo/client"
import { Codec, type ProtocolError } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { followTurn } from "../src/followTurn.js"

interface Vector {
  readonly name: string
  readonly frame: string
  readonly canonical?: unknown
  readonly reason?: string
  readonly path?: ReadonlyArray<string | number>
  readonly options?: Codec.CodecOptions
}
interface VectorFile {
  readonly direction: "client" | "server"
  readonly valid: ReadonlyArray<Vector>
  readonly invalid: ReadonlyArray<Vector>
}

declare global {
  interface Window {
    stage: string
    report: unknown
    /** CSP violations, recorded by the page from before this script loaded. */
    violations?: Array<string>
  }
}

const sameJson = (a: unknown, b: unknown): boolean => {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return a === b
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keys = Object.keys(a)
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => Object.hasOwn(b, key) && sameJson((a as any)[key], (b as any)[key]))
  )
}

/** Every vector through the codec of its side: the names of the cases that disagree. */
const conformance = (files: ReadonlyArray<VectorFile>) => {
  const failures: Array<string> = []
  let cases = 0
  for (const file of files) {
    // Client messages are decoded by a gateway, server events by a client.
    const decoder = (options: Codec.CodecOptions): ((frame: string) => Either.Either<unknown, ProtocolError>) =>
      file.direction === "client" ? Codec.makeGatewayCodec(options).decode : Codec.makeClientCodec(options).decode
    const reencode = (value: any) =>
      file.direction === "client" ? Codec.client.encode(value) : Codec.gateway.encode(value)
    for (const vector of file.valid) {
      cases++
      const again = Either.flatMap(decoder({})(vector.frame), reencode)
      if (Either.isLeft(again) || !sameJson(JSON.parse(again.right), vector.canonical)) failures.push(vector.name)
    }
    for (const vector of file.invalid) {
      cases++
      const decoded = decoder(vector.options ?? {})(vector.frame)
      if (Either.isRight(decoded) || decoded.left.reason !== vector.reason || !sameJson(decoded.left.path, vector.path))
        failures.push(vector.name)
    }
  }
  return { cases, failures }
}

const evalAllowed = () => {
  try {
    return new Function("return 1")() === 1
  } catch {
    return false
  }
}

const turn = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const states: Array<string> = []
  yield* client.state.changes.pipe(
    Stream.runForEach((state) => Effect.sync(() => states.push(state._tag))),
    Effect.forkScoped
  )
  const session = yield* client.createSession("coding-agent", "browser")
  const items = yield* client.subscribeSession(session.id)
  const started = yield* client.runTurn(session.id, "Add an add() function with a test, and run it.")
  const followed = yield* followTurn(client, session.id, started.turnId, items, () => {
    if (window.stage === "running") window.stage = "text"
  })
  const state = yield* client.state.get
  return {
    sessionId: session.id,
    turnId: started.turnId,
    ...followed,
    states,
    connected: ConnectionState.$is("Connected")(state)
  }
})

const main = Effect.gen(function* () {
  window.stage = "vectors"
  const index: ReadonlyArray<string> = yield* Effect.promise(() => fetch("/vectors/").then((r) => r.json()))
  const files = yield* Effect.forEach(index, (name) =>
    Effect.promise(() => fetch(`/vectors/${name}`).then((r) => r.json() as Promise<VectorFile>))
  )
  const vectors = conformance(files)
  window.stage = "running"
  const url = new URLSearchParams(location.search).get("gateway")!
  const result = yield* Effect.scoped(turn).pipe(
    Effect.provide(GatewayClient.layer({ url }).pipe(Layer.provide(WebSocketTransport.layerGlobal)))
  )
  // What the page refused while the modules loaded and ran, before this script tries eval itself.
  const violations = [...(window.violations ?? [])]
  return { evalAllowed: evalAllowed(), violations, vectors, ...result }
})

window.stage = "loading"
Effect.runPromise(main).then(
  (report) => {
    window.report = report
    window.stage = "done"
  },
  (error) => {
    window.report = { error: String(error) }
    window.stage = "failed"
  }
)

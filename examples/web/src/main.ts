/**
 * The web example: connect to a gateway, list and create sessions, run turns and watch them stream
 * through SessionState, answer the agent's questions and permission requests. The client's browser
 * transport is WebSocketTransport (the standard WebSocket).
 */
import { GatewayClient, SessionState, WebSocketTransport } from "@diminuendo/client"
import type { Shapes } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { h, sync } from "./dom.js"
import { sessionView } from "./view.js"

const $ = <E extends HTMLElement>(selector: string) => document.querySelector<E>(selector)!

const ui = {
  connect: $<HTMLFormElement>("#connect"),
  url: $<HTMLInputElement>("#url"),
  token: $<HTMLInputElement>("#token"),
  status: $("#status"),
  newSession: $<HTMLFormElement>("#new-session"),
  sessions: $("#sessions"),
  session: $("#session"),
  prompt: $<HTMLFormElement>("#prompt"),
  stop: $<HTMLButtonElement>("#stop"),
  error: $("#error")
}

// ----- state of the page ------------------------------------------------------------------------

let client: GatewayClient.GatewayClient | undefined
let clientScope: Scope.CloseableScope | undefined
let open: { readonly sessionId: string; readonly scope: Scope.CloseableScope } | undefined
let sessions: ReadonlyArray<Shapes.SessionMeta> = []
/** The latest state of the open session, and whether a frame is already asked for to draw it. */
let latest: SessionState.SessionState | undefined
let drawQueued = false
/** The prompts this page sent, by turn id: a turn's prompt is not a session event. */
const prompts = new Map<string, string>()

const showError = (message: string | undefined) => {
  ui.error.hidden = message === undefined
  ui.error.textContent = message ?? ""
}

/** Runs an action of the page; its failure is shown, not thrown. Resolves to whether it succeeded. */
const run = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>): Promise<boolean> =>
  Effect.runPromise(
    effect.pipe(
      Effect.tap(() => Effect.sync(() => showError(undefined))),
      Effect.tapErrorCause((cause) =>
        Effect.sync(() => showError(cause._tag === "Fail" ? cause.error.message : String(cause)))
      ),
      Effect.exit,
      Effect.map(Exit.isSuccess)
    )
  )

const requireClient = Effect.suspend(() =>
  client === undefined ? Effect.fail({ message: "Not connected" }) : Effect.succeed(client)
)

// ----- drawing ----------------------------------------------------------------------------------

let draw: ((state: SessionState.SessionState) => void) | undefined

/** Draws the open session at most once per animation frame, from the latest state. */
const queueDraw = () => {
  if (drawQueued) return
  drawQueued = true
  requestAnimationFrame(() => {
    drawQueued = false
    if (latest === undefined || draw === undefined) return
    // Follow the stream while the reader is at the bottom.
    const view = ui.session
    const atBottom = view.scrollHeight - view.scrollTop - view.clientHeight < 40
    draw(latest)
    if (atBottom) view.scrollTop = view.scrollHeight
  })
}

const drawSessions = () =>
  sync(
    ui.sessions,
    sessions.map((s) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: s.id === open?.sessionId ? "active" : undefined,
            "data-testid": "session-item",
            "data-session-id": s.id,
            onclick: () => run(openSession(s.id))
          },
          s.name ?? s.id,
          h("small", {}, ` ${s.agentType} · ${s.status}`)
        )
      )
    )
  )

// ----- actions ----------------------------------------------------------------------------------

const refreshSessions = Effect.gen(function* () {
  sessions = yield* (yield* requireClient).listSessions()
  drawSessions()
})

const closeSession = Effect.suspend(() => {
  const current = open
  open = undefined
  latest = undefined
  draw = undefined
  return current === undefined ? Effect.void : Scope.close(current.scope, Exit.void)
})

const openSession = (sessionId: string) =>
  Effect.gen(function* () {
    const c = yield* requireClient
    yield* closeSession
    const scope = yield* Scope.fork(clientScope!, ExecutionStrategy.sequential)
    open = { sessionId, scope }
    ui.session.dataset.sessionId = sessionId
    ui.session.replaceChildren()
    drawSessions()
    draw = sessionView(ui.session, {
      promptOf: (turnId) => prompts.get(turnId),
      answer: (request, answers, dismissed) => run(c.answerQuestion(sessionId, request.requestId, answers, dismissed))
    })
    const tracked = yield* SessionState.track(c, sessionId).pipe(Scope.extend(scope))
    yield* tracked.changes.pipe(
      Stream.runForEach((state) =>
        Effect.sync(() => {
          latest = state
          queueDraw()
        })
      ),
      Effect.forkIn(scope)
    )
  })

const connect = (url: string, token: string) =>
  Effect.gen(function* () {
    yield* disconnect
    const scope = yield* Scope.make()
    const made = yield* GatewayClient.make({
      url,
      token: token === "" ? undefined : Redacted.make(token)
    }).pipe(
      Effect.provide(WebSocketTransport.layerGlobal),
      Scope.extend(scope),
      Effect.tapError(() => Scope.close(scope, Exit.void))
    )
    client = made
    clientScope = scope
    yield* made.state.changes.pipe(
      Stream.runForEach((state) =>
        Effect.sync(() => {
          ui.status.dataset.state = state._tag
          ui.status.textContent =
            state._tag === "Reconnecting" ? `reconnecting (attempt ${state.attempt})` : state._tag.toLowerCase()
        })
      ),
      Effect.forkIn(scope)
    )
    yield* refreshSessions
  })

const disconnect = Effect.suspend(() => {
  const scope = clientScope
  client = undefined
  clientScope = undefined
  return Effect.zipRight(closeSession, scope === undefined ? Effect.void : Scope.close(scope, Exit.void))
})

const createSession = (agentType: string, name: string) =>
  Effect.gen(function* () {
    const c = yield* requireClient
    const session = yield* c.createSession(agentType, name === "" ? undefined : name)
    yield* refreshSessions
    yield* openSession(session.id)
  })

const send = (text: string) =>
  Effect.gen(function* () {
    const c = yield* requireClient
    if (open === undefined) return yield* Effect.fail({ message: "Open a session first" })
    const started = yield* c.runTurn(open.sessionId, text)
    prompts.set(started.turnId, text)
    queueDraw()
  })

// ----- wiring -----------------------------------------------------------------------------------

ui.connect.addEventListener("submit", (event) => {
  event.preventDefault()
  run(connect(ui.url.value.trim(), ui.token.value))
})
ui.newSession.addEventListener("submit", (event) => {
  event.preventDefault()
  const form = new FormData(ui.newSession)
  run(createSession(String(form.get("agent")), String(form.get("name") ?? "").trim()))
})
ui.prompt.addEventListener("submit", (event) => {
  event.preventDefault()
  const field = ui.prompt.elements.namedItem("text") as HTMLTextAreaElement
  const text = field.value.trim()
  if (text === "") return
  field.value = ""
  run(send(text))
})
ui.stop.addEventListener("click", () =>
  run(Effect.flatMap(requireClient, (c) => (open === undefined ? Effect.void : c.stopTurn(open.sessionId))))
)

/** For tests and the curious: the open session's state as its Schema encodes it. */
const encode = Schema.encodeSync(SessionState.SessionState)
Object.assign(globalThis, {
  diminuendo: { state: () => (latest === undefined ? null : JSON.parse(JSON.stringify(encode(latest)))) }
})

// The gateway started beside this page (pnpm web), unless the URL says otherwise (?gateway=ws://...).
const configured = new URLSearchParams(location.search).get("gateway")
fetch("/config.json")
  .then((r) => r.json() as Promise<{ gatewayPort: number }>)
  .then((config) => {
    ui.url.value = configured ?? `ws://${location.hostname}:${config.gatewayPort}`
  })
  .catch(() => {
    ui.url.value = configured ?? `ws://${location.hostname}:8787`
  })

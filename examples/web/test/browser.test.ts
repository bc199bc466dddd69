/**
 * The web example in a real browser: Debian's Chromium, headless, driven by playwright-core,
 * against the testkit gateway started in this process. Screenshots go to test-output/.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { SessionState } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import type { Agent } from "@diminuendo/testkit"
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { Browser, Page } from "playwright-core"
import { type Started, start } from "../server.js"
import { launch } from "./chromium.js"

const output = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "test-output")

class Env extends Context.Tag("web/test/Env")<Env, { readonly browser: Browser; readonly server: Started }>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function* () {
    fs.mkdirSync(output, { recursive: true })
    const server = yield* start({ port: 0, gatewayPort: 0, stepMs: 15 })
    const browser = yield* launch
    return { browser, server }
  })
)

const desktop = { width: 1280, height: 860 }
const phone = { width: 390, height: 844 }

/** A page of the example, connected to the gateway. */
const openPage = (viewport: { width: number; height: number }) =>
  Effect.gen(function* () {
    const { browser, server } = yield* Env
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ viewport })),
      (context) => Effect.promise(() => context.close())
    )
    const page = yield* Effect.promise(() => context.newPage())
    const problems: Array<string> = []
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`)
    })
    yield* Effect.promise(async () => {
      await page.goto(server.url)
      await page.waitForFunction(() => (document.querySelector("#url") as HTMLInputElement).value !== "")
      await page.click("[data-testid=connect-button]")
      await page.waitForSelector("[data-testid=connection-status][data-state=Connected]")
    })
    return { page, problems }
  })

/** The page's SessionState, as its Schema encodes it (`window.diminuendo.state()`). */
const pageState = (page: Page) =>
  Effect.promise(
    () =>
      page.evaluate(() => (globalThis as any).diminuendo.state()) as Promise<typeof SessionState.SessionState.Encoded>
  )

const encode = Schema.encodeSync(SessionState.SessionState)

/** A state with what differs between two runs of the same turn taken out: ids, times, the snapshot. */
const normalized = (encoded: typeof SessionState.SessionState.Encoded, sessionId: string) => {
  const { session: _s, subscriberCount: _c, history: _h, ...rest } = encoded
  const out = JSON.parse(JSON.stringify(rest).replaceAll(sessionId, "SESSION"), (key, value) =>
    key === "ts" || key === "startedAt" || key === "endedAt" || key === "clientTurnId" ? 0 : value
  )
  // Maps are encoded as entry arrays in hash order, which depends on the (random) session id.
  for (const key of ["turns", "toolCalls"]) {
    if (Array.isArray(out[key])) out[key].sort((a: [string], b: [string]) => a[0].localeCompare(b[0]))
  }
  return out
}

/** Points of the turn where the test acts: text streams, the permission request waits, the terminal streams. */
type Stage = "text" | "permission" | "terminal"

interface Run {
  readonly sessionId: string
  readonly turnId: string
  readonly state: typeof SessionState.SessionState.Encoded
  readonly text: string
}

/** Creates a session of `agent` in the page (it opens) and returns its id. */
const newSession = (page: Page, agent: "coding-agent" | "echo") =>
  Effect.promise(async () => {
    await page.selectOption("[data-testid=new-session-agent]", agent)
    await page.click("[data-testid=new-session-button]")
    await page.waitForSelector("[data-testid=session-status]")
    return (await page.getAttribute("[data-testid=session-view]", "data-session-id"))!
  })

/**
 * Waits until the page's turn is complete and the page has applied the session's whole log (its
 * last event, `session_state` ready, follows `turn_complete`), then reads what the page shows.
 */
const finished = (page: Page, sessionId: string) =>
  Effect.gen(function* () {
    yield* Effect.promise(() => page.waitForSelector("[data-testid=turn][data-status=complete]", { timeout: 20_000 }))
    const turnId = yield* Effect.promise(() => page.getAttribute("[data-testid=turn]", "data-turn-id"))
    yield* Effect.promise(() => page.waitForSelector("[data-testid=session-status]:text('ready')"))
    const { server } = yield* Env
    const log = yield* server.gateway.sessionLog(sessionId)
    yield* Effect.promise(() =>
      page.waitForFunction((last) => (globalThis as any).diminuendo.state()?.lastSeq === last, log.at(-1)!.seq)
    )
    const state = yield* pageState(page)
    const text = yield* Effect.promise(() => page.textContent("[data-testid=session-view]"))
    return { sessionId, turnId: turnId!, state, text: text ?? "" } satisfies Run
  })

/**
 * Creates a coding-agent session in the page, sends a prompt, answers the question ("vitest") and
 * approves the permission by clicking, and waits for the turn to complete. `during` runs once the
 * turn streams (screenshots, drops).
 */
const runTurn = (page: Page, during: (stage: Stage, sessionId: string) => Effect.Effect<void, never, Env>) =>
  Effect.gen(function* () {
    const step = (f: () => Promise<unknown>) => Effect.promise(f)
    const sessionId = yield* newSession(page, "coding-agent")
    yield* step(async () => {
      await page.fill("[data-testid=prompt]", "Add an add() function with a test, and run it.")
      await page.click("[data-testid=send]")
      await page.waitForSelector("[data-testid=text-part]", { timeout: 20_000 })
    })
    yield* during("text", sessionId)
    yield* step(() =>
      page.click("[data-testid=request][data-kind=question] [data-testid=answer-option][data-value=vitest]", {
        timeout: 20_000
      })
    )
    yield* step(() =>
      page.waitForSelector("[data-testid=request][data-kind=permission] [data-testid=approve]", { timeout: 20_000 })
    )
    yield* during("permission", sessionId)
    yield* step(() => page.click("[data-testid=request][data-kind=permission] [data-testid=approve]"))
    yield* step(() => page.waitForSelector("[data-testid=tool-call] [data-testid=terminal]", { timeout: 20_000 }))
    yield* during("terminal", sessionId)
    return yield* finished(page, sessionId)
  })

/** A turn with two messages: one streamed by `message.delta` and closed, one that comes whole. */
const messagesScript: ReadonlyArray<Agent.EmittedEvent> = [
  { type: "message.delta", messageId: "m-plan", role: "assistant", delta: "Reading the request, " },
  { type: "message.delta", messageId: "m-plan", role: "assistant", delta: "then answering." },
  { type: "message.complete", messageId: "m-plan", role: "assistant", content: "Reading the request, then answering." },
  { type: "message.complete", messageId: "m-note", role: "system", content: "The workspace is read-only." },
  { type: "text_delta", text: "Here is the answer." }
]

const shot = (page: Page, name: string) =>
  Effect.promise(() => page.screenshot({ path: path.join(output, `${name}.png`) })).pipe(Effect.asVoid)

layer(EnvLive, { timeout: "60 seconds", excludeTestServices: true })("web example in Chromium", (it) => {
  it.scoped(
    "a coding-agent turn, its question answered and its permission approved by clicking, renders what the gateway logged",
    () =>
      Effect.gen(function* () {
        const { page, problems } = yield* openPage(desktop)
        const run = yield* runTurn(page, (stage) =>
          stage === "permission" ? shot(page, "desktop-mid-turn") : Effect.void
        )
        yield* shot(page, "desktop-end")
        yield* Effect.promise(() => page.setViewportSize(phone))
        yield* shot(page, "phone-end")

        const { server } = yield* Env
        const log = yield* server.gateway.sessionLog(run.sessionId)
        const complete = log.find((e): e is ServerEvent.TurnComplete => e.type === "turn_complete")!
        const turn = page.locator(`[data-testid=turn][data-turn-id="${run.turnId}"]`)
        const texts = yield* Effect.promise(() => turn.locator("[data-testid=text-part]").allTextContents())
        assert.strictEqual(texts.join(""), complete.finalText)
        const prompt = yield* Effect.promise(() => turn.locator("[data-testid=turn-prompt]").textContent())
        assert.strictEqual(prompt, "Add an add() function with a test, and run it.")

        const calls = log.filter((e): e is ServerEvent.ToolCall => e.type === "tool_call")
        const results = log.filter((e): e is ServerEvent.ToolResult => e.type === "tool_result")
        assert.strictEqual(yield* Effect.promise(() => turn.locator("[data-testid=tool-call]").count()), calls.length)
        for (const call of calls) {
          const card = turn.locator(`[data-testid=tool-call][data-tool-call-id="${call.toolCallId}"]`)
          const result = results.find((r) => r.toolCallId === call.toolCallId)!
          const shown = yield* Effect.promise(async () => ({
            status: await card.getAttribute("data-status"),
            args: await card.locator("[data-testid=tool-args]").textContent(),
            result: await card.locator("[data-testid=tool-result]").textContent()
          }))
          assert.deepStrictEqual(shown, {
            status: "completed",
            args: JSON.stringify(call.args, null, 2),
            result: JSON.stringify(result.output, null, 2)
          })
        }
        const terminal = log.flatMap((e) => (e.type === "terminal_stream" ? [e.data] : [])).join("")
        const shownTerminal = yield* Effect.promise(() => turn.locator("[data-testid=terminal]").textContent())
        assert.strictEqual(shownTerminal, `${terminal}exit code 0`)
        const resolutions = yield* Effect.promise(() =>
          turn
            .locator("[data-testid=request]")
            .evaluateAll((els) => els.map((el) => el.getAttribute("data-resolution")))
        )
        assert.deepStrictEqual(resolutions, ["answered", "approved"])
        const usage = log.find((e): e is ServerEvent.UsageUpdate => e.type === "usage_update")!
        const total = yield* Effect.promise(() => page.textContent("[data-testid=usage-total]"))
        assert.include(total, `${usage.inputTokens.toLocaleString("en")} in · ${usage.outputTokens} out`)

        // The page's state is the fold of the gateway's log.
        const folded = encode(SessionState.fold(SessionState.empty(run.sessionId), log))
        assert.deepStrictEqual(normalized(run.state, run.sessionId), normalized(folded, run.sessionId))
        assert.deepStrictEqual(problems, [])
      })
  )

  it.scoped(
    "with the connection dropped twice mid-turn, on a phone-sized screen, the page ends in the same state as a run without the drops",
    () =>
      Effect.gen(function* () {
        const calm = yield* openPage(desktop)
        const baseline = yield* runTurn(calm.page, () => Effect.void)

        const { page, problems } = yield* openPage(phone)
        /** Each drop's stage, and whether the gateway's log just after it has the turn's end. */
        const drops: Array<readonly [Stage, "mid-turn" | "after the turn"]> = []
        const dropped = yield* runTurn(page, (stage, sessionId) =>
          Effect.gen(function* () {
            // Drops where the turn waits on this page (its question answered, its permission not
            // yet): mid-turn whatever the machine's load; the terminal output streams after the second.
            if (stage === "terminal") return yield* shot(page, "phone-mid-turn")
            // The newest connection is this page's (the first page's is still open).
            const { server } = yield* Env
            const connections = yield* server.gateway.connections
            yield* connections.at(-1)!.drop()
            // Read after the drop, a log without turn_complete says the drop came before it.
            const log = yield* server.gateway.sessionLog(sessionId)
            drops.push([stage, log.some((e) => e.type === "turn_complete") ? "after the turn" : "mid-turn"])
            yield* Effect.promise(async () => {
              await page.waitForSelector("[data-testid=connection-status][data-state=Reconnecting]", {
                timeout: 20_000
              })
              await page.waitForSelector("[data-testid=connection-status][data-state=Connected]", { timeout: 20_000 })
            })
          })
        )
        assert.deepStrictEqual(drops, [
          ["text", "mid-turn"],
          ["permission", "mid-turn"]
        ])
        assert.deepStrictEqual(dropped.state.gaps, [])
        assert.deepStrictEqual(
          normalized(dropped.state, dropped.sessionId),
          normalized(baseline.state, baseline.sessionId)
        )
        assert.strictEqual(
          dropped.text.replaceAll(dropped.sessionId, "SESSION"),
          baseline.text.replaceAll(baseline.sessionId, "SESSION")
        )
        assert.deepStrictEqual([...calm.problems, ...problems], [])
      })
  )

  it.scoped(
    "a scripted turn's messages (message.delta, message.complete) render with their role: the streamed content while open, then what the gateway logged",
    () =>
      Effect.gen(function* () {
        const { server } = yield* Env
        const { page, problems } = yield* openPage(desktop)
        const sessionId = yield* newSession(page, "echo")
        yield* server.gateway.scriptNextTurn(sessionId, messagesScript)
        // Held back, the first message.complete leaves its message open on the page for a while.
        yield* Effect.acquireRelease(
          server.gateway.faults.delay("message.complete", 400),
          () => server.gateway.faults.clear
        )
        yield* Effect.promise(async () => {
          await page.fill("[data-testid=prompt]", "Plan it, then answer.")
          await page.click("[data-testid=send]")
          await page.waitForFunction(
            (content) => {
              const open = document.querySelector('[data-testid=message][data-message-id="m-plan"]')
              return (
                open?.getAttribute("data-complete") === "false" &&
                open.querySelector("[data-testid=message-content]")?.textContent === content
              )
            },
            "Reading the request, then answering.",
            { timeout: 20_000 }
          )
        })
        const streaming = yield* Effect.promise(() =>
          page.textContent('[data-testid=message][data-message-id="m-plan"] .message-role')
        )
        assert.strictEqual(streaming, "assistant · streaming…")
        yield* server.gateway.faults.clear

        const run = yield* finished(page, sessionId)
        yield* shot(page, "desktop-messages")
        const log = yield* server.gateway.sessionLog(sessionId)
        const completes = log.filter((e): e is ServerEvent.MessageComplete => e.type === "message.complete")
        const turn = page.locator(`[data-testid=turn][data-turn-id="${run.turnId}"]`)
        const shown = yield* Effect.promise(() =>
          turn
            .locator("[data-testid=message]")
            .evaluateAll((els) =>
              els.map((el) => [
                el.getAttribute("data-message-id"),
                el.getAttribute("data-role"),
                el.getAttribute("data-complete"),
                el.querySelector(".message-role")?.textContent,
                el.querySelector("[data-testid=message-content]")?.textContent
              ])
            )
        )
        assert.deepStrictEqual(
          shown,
          completes.map((m) => [m.messageId, m.role, "true", m.role, m.content])
        )
        assert.strictEqual(completes.length, 2)
        const complete = log.find((e): e is ServerEvent.TurnComplete => e.type === "turn_complete")!
        const texts = yield* Effect.promise(() => turn.locator("[data-testid=text-part]").allTextContents())
        assert.deepStrictEqual(texts, [complete.finalText])
        const folded = encode(SessionState.fold(SessionState.empty(sessionId), log))
        assert.deepStrictEqual(normalized(run.state, sessionId), normalized(folded, sessionId))
        assert.deepStrictEqual(problems, [])
      })
  )
})

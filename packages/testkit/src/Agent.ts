/**
 * Scripted agents that drive turns on the testkit gateway. An agent is an Effect run with a
 * {@link TurnContext}; everything it emits goes through the gateway's event log (with `seq`) and the
 * protocol codec. Built in: `echo`, `coding-agent`, and {@link script} for an exact sequence.
 *
 * @since 0.1.0
 */
import type { ServerEvent, Shapes } from "@diminuendo/protocol"
import * as Effect from "effect/Effect"

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/**
 * A session event as an agent emits it: everything but `sessionId`, `seq`, `ts` and `turnId`,
 * which the gateway fills in. Typed from the protocol's `SessionEvent`, so a misspelt field is a
 * compile error.
 *
 * @since 0.1.0
 * @category models
 */
export type EmittedEvent = DistributiveOmit<
  Exclude<ServerEvent.SessionEvent, ServerEvent.StreamSnapshot | ServerEvent.StopAcknowledged>,
  "sessionId" | "seq" | "ts" | "turnId"
>

/**
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly answers: Readonly<Record<string, string>>
  readonly dismissed: boolean
}

/**
 * What an agent can do during a turn.
 *
 * @since 0.1.0
 * @category models
 */
export interface TurnContext {
  readonly sessionId: string
  readonly turnId: string
  /** The user's message that started the turn. */
  readonly prompt: string
  /** Emits one session event (turn-scoped events get `turnId`). `text_delta` text accumulates. */
  readonly emit: (event: EmittedEvent) => Effect.Effect<void>
  /** Streams `text` as `text_delta` events of about `chunk` characters, one step apart. */
  readonly say: (text: string, chunk?: number) => Effect.Effect<void>
  /** Waits one step (the gateway's `agentStepMs`, under Effect's Clock). */
  readonly step: Effect.Effect<void>
  /** Asks questions (`question_requested`) and waits for `answer_question`. */
  readonly ask: (questions: ReadonlyArray<Shapes.Question>) => Effect.Effect<Answer>
  /** Asks permission (`permission_requested`); true when approved. */
  readonly askPermission: (toolName: string, description: string, args?: unknown) => Effect.Effect<boolean>
  /** Writes a workspace file and emits `file_changed`. */
  readonly writeFile: (path: string, content: string) => Effect.Effect<void>
  /** Steering messages received since the last call (each already acknowledged by `steer_sent`). */
  readonly steers: Effect.Effect<ReadonlyArray<string>>
}

/**
 * @since 0.1.0
 * @category models
 */
export type Agent = (turn: TurnContext) => Effect.Effect<void, string>

/**
 * Echoes the prompt back, word by word.
 *
 * @since 0.1.0
 * @category agents
 */
export const echo: Agent = (turn) => turn.say(`Echo: ${turn.prompt}`, 8)

/**
 * Plays back an exact list of events, one step apart (`text_delta` text accumulates into the
 * turn's final text). For tests that need a precise sequence.
 *
 * @since 0.1.0
 * @category constructors
 */
export const script =
  (events: ReadonlyArray<EmittedEvent>): Agent =>
  (turn) =>
    Effect.forEach(events, (event) => Effect.zipRight(turn.step, turn.emit(event)), { discard: true })

const toolCall = (turn: TurnContext, id: string, toolName: string, args: unknown, output: unknown) =>
  Effect.gen(function* () {
    const json = JSON.stringify(args)
    yield* turn.emit({ type: "tool_call_start", toolCallId: id, toolName })
    const half = Math.ceil(json.length / 2)
    for (const delta of [json.slice(0, half), json.slice(half)]) {
      yield* turn.step
      yield* turn.emit({ type: "tool_call_delta", toolCallId: id, delta })
    }
    yield* turn.emit({ type: "tool_call", toolCallId: id, toolName, args })
    yield* turn.step
    yield* turn.emit({ type: "tool_result", toolCallId: id, status: "success", output })
  })

const acknowledgeSteers = (turn: TurnContext) =>
  Effect.flatMap(turn.steers, (steers) =>
    Effect.forEach(steers, (content) => turn.say(`(Noted: "${content}".) `), { discard: true })
  )

/**
 * A coding agent: thinks, reads a file, asks which test runner to use, asks permission to run the
 * tests, writes files, streams terminal output, reports usage, and sums up. Steering messages are
 * acknowledged in its text between steps.
 *
 * @since 0.1.0
 * @category agents
 */
export const codingAgent: Agent = (turn) =>
  Effect.gen(function* () {
    const n = turn.turnId
    yield* turn.emit({ type: "sandbox_init", sandboxId: `sandbox-${turn.sessionId}` })
    yield* turn.emit({
      type: "sandbox_provisioning",
      sandboxId: `sandbox-${turn.sessionId}`,
      progress: 0.5,
      message: "Installing dependencies"
    })
    yield* turn.emit({ type: "sandbox_ready", sandboxId: `sandbox-${turn.sessionId}` })
    yield* turn.emit({ type: "thinking_start" })
    for (const text of ["Reading the request. ", "Planning: inspect, write a test, run it. "]) {
      yield* turn.step
      yield* turn.emit({ type: "thinking_progress", text })
    }
    yield* turn.emit({ type: "thinking_complete" })
    yield* turn.say(`Let me look at the project for "${turn.prompt}". `)
    yield* acknowledgeSteers(turn)
    yield* toolCall(turn, `${n}-read`, "read_file", { path: "package.json" }, { content: '{ "name": "demo" }' })

    const answer = yield* turn.ask([
      {
        id: "runner",
        prompt: "Which test runner should I use?",
        options: ["vitest", "node:test"],
        allowFreeText: true
      }
    ])
    const runner = answer.dismissed ? "vitest" : (answer.answers.runner ?? "vitest")
    yield* turn.say(`Using ${runner}. `)
    yield* acknowledgeSteers(turn)

    const source = "export const add = (a: number, b: number): number => a + b\n"
    const test = `import { add } from "./add.js"\n// runner: ${runner}\nconsole.assert(add(2, 2) === 4)\n`
    yield* toolCall(turn, `${n}-write-src`, "write_file", { path: "src/add.ts" }, { bytes: source.length })
    yield* turn.writeFile("src/add.ts", source)
    yield* toolCall(turn, `${n}-write-test`, "write_file", { path: "test/add.test.ts" }, { bytes: test.length })
    yield* turn.writeFile("test/add.test.ts", test)

    const approved = yield* turn.askPermission("run_command", "Run the test suite", { command: `npx ${runner} run` })
    if (approved) {
      yield* turn.emit({ type: "tool_call_start", toolCallId: `${n}-run`, toolName: "run_command" })
      yield* turn.emit({
        type: "tool_call",
        toolCallId: `${n}-run`,
        toolName: "run_command",
        args: { command: `npx ${runner} run` }
      })
      for (const line of [`$ npx ${runner} run\n`, " ✓ test/add.test.ts (1 test)\n", " Tests  1 passed (1)\n"]) {
        yield* turn.step
        yield* turn.emit({ type: "terminal_stream", data: line })
      }
      yield* turn.emit({ type: "terminal_complete", exitCode: 0 })
      yield* turn.emit({ type: "tool_result", toolCallId: `${n}-run`, status: "success", output: { exitCode: 0 } })
    } else {
      yield* turn.say("You declined running the tests, so I have not run them. ")
    }
    yield* acknowledgeSteers(turn)
    yield* turn.emit({
      type: "usage_update",
      inputTokens: 1843,
      outputTokens: 412,
      cacheReadTokens: 1024,
      costUsd: 0.0123
    })
    yield* turn.emit({ type: "usage_context", usedTokens: 2255, maxTokens: 200_000 })
    yield* turn.say(approved ? "Done: `add` is implemented and its test passes." : "Done: `add` is implemented.")
  })

/**
 * The agents every gateway has, by `agentType`.
 *
 * @since 0.1.0
 * @category agents
 */
export const builtIn: Readonly<Record<string, Agent>> = {
  echo,
  "coding-agent": codingAgent
}

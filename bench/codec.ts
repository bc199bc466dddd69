/**
 * Decode-and-validate throughput of server event frames on a realistic mix, as a ratio to
 * `JSON.parse` alone measured in the same run. Peers: Effect Schema's own union decoder, zod 4 and
 * TypeBox's compiled checker, each given the same frames.
 */
import { Codec, ServerEvent } from "@diminuendo/protocol"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { type Measurement, measure, pairedRatio } from "./measure.js"
import { typeboxChecker, zodUnion } from "./peers.js"

const turn = (seq: number) => ({ sessionId: "sess-42", turnId: "turn-7", seq, ts: 1_732_000_000_000 + seq })
// Session events outside a turn (file_changed) carry no turnId.
const session = (seq: number) => ({ sessionId: "sess-42", seq, ts: 1_732_000_000_000 + seq })

const meta = (i: number) => ({
  id: `session-${i}`,
  tenantId: "tenant-1",
  name: i % 3 === 0 ? null : `Session number ${i}`,
  agentType: "coding-agent",
  status: i % 5 === 0 ? "running" : "ready",
  archived: false,
  createdAt: 1_732_000_000_000,
  updatedAt: 1_732_000_000_000 + i,
  lastActivityAt: i % 2 ? null : 1_732_000_000_000
})

/** 80% text_delta, 10% tool events, the rest mixed, a few large session_list frames. */
export const makeFrames = (count: number): Array<string> => {
  const frames: Array<string> = []
  for (let i = 0; i < count; i++) {
    const r = i % 100
    let event: Record<string, unknown>
    if (r < 80) event = { type: "text_delta", ...turn(i), text: `token ${i} of the answer, with some words ` }
    else if (r < 83) event = { type: "tool_call_start", ...turn(i), toolCallId: `call-${i}`, toolName: "read_file" }
    else if (r < 86) event = { type: "tool_call_delta", ...turn(i), toolCallId: `call-${i}`, delta: '{"path":"src/' }
    else if (r < 88)
      event = {
        type: "tool_call",
        ...turn(i),
        toolCallId: `call-${i}`,
        toolName: "write_file",
        args: { path: "src/index.ts", content: "export const x = 1\n", mode: { create: true } }
      }
    else if (r < 90)
      event = { type: "tool_result", ...turn(i), toolCallId: `call-${i}`, status: "success", output: { bytes: 120 } }
    else if (r < 93) event = { type: "thinking_progress", ...turn(i), text: "considering the options" }
    else if (r < 95)
      event = { type: "usage_update", ...turn(i), inputTokens: 1200 + i, outputTokens: 300 + i, costUsd: 0.0125 }
    else if (r < 97)
      event = { type: "file_changed", ...session(i), path: "src/index.ts", change: "modified", iteration: 3 }
    else if (r < 98) event = { type: "heartbeat", ts: 1_732_000_000_000 + i }
    else if (r < 99) event = { type: "turn_started", ...turn(i), clientTurnId: `client-${i}` }
    else if (i % 1000 === 99) event = { type: "session_list", sessions: Array.from({ length: 200 }, (_, k) => meta(k)) }
    else event = { type: "turn_complete", ...turn(i), finalText: "Done: the tests pass." }
    frames.push(JSON.stringify(event))
  }
  return frames
}

export interface CodecBenchResult {
  readonly frames: number
  readonly bytes: number
  readonly rows: ReadonlyArray<{
    readonly name: string
    readonly measurement: Measurement
    readonly ratio: number
    readonly paired: Measurement
  }>
}

export const runCodecBench = (options: { readonly frames: number; readonly rounds: number }): CodecBenchResult => {
  const frames = makeFrames(options.frames)
  const bytes = frames.reduce((n, f) => n + f.length, 0)
  const decodeEffect = Schema.decodeUnknownSync(ServerEvent.ServerEvent)
  const codec = Codec.makeClientCodec()
  // Every contender must accept every frame, so all do the same work.
  for (const frame of frames) {
    if (Either.isLeft(codec.decode(frame))) throw new Error(`codec rejected ${frame.slice(0, 80)}`)
    if (!typeboxChecker.Check(JSON.parse(frame))) throw new Error(`typebox rejected ${frame.slice(0, 80)}`)
    zodUnion.parse(JSON.parse(frame))
  }
  let sink = 0
  const contenders: Array<[string, () => void]> = [
    [
      "JSON.parse alone (baseline)",
      () => {
        for (const frame of frames) sink += (JSON.parse(frame) as { seq?: number }).seq ?? 0
      }
    ],
    [
      "@diminuendo/protocol Codec.decode",
      () => {
        for (const frame of frames) {
          const result = codec.decode(frame)
          if (result._tag === "Right") sink += (result.right as { seq?: number }).seq ?? 0
        }
      }
    ],
    [
      "JSON.parse + Schema.decodeUnknownSync(ServerEvent)",
      () => {
        for (const frame of frames) sink += (decodeEffect(JSON.parse(frame)) as { seq?: number }).seq ?? 0
      }
    ],
    [
      "JSON.parse + zod 4 discriminatedUnion.parse",
      () => {
        for (const frame of frames) sink += (zodUnion.parse(JSON.parse(frame)) as { seq?: number }).seq ?? 0
      }
    ],
    [
      "JSON.parse + TypeBox TypeCompiler Check",
      () => {
        for (const frame of frames) {
          const value = JSON.parse(frame)
          if (typeboxChecker.Check(value)) sink += (value as { seq?: number }).seq ?? 0
        }
      }
    ]
  ]
  const measurements = measure(contenders, options.rounds, frames.length)
  if (sink === 0.5) console.log(sink)
  const baseline = measurements[0]!.median
  return {
    frames: frames.length,
    bytes,
    rows: contenders.map(([name], i) => ({
      name,
      measurement: measurements[i]!,
      ratio: measurements[i]!.median / baseline,
      paired: pairedRatio(measurements[i]!, measurements[0]!)
    }))
  }
}

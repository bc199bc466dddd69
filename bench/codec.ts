/**
 * Decode-and-validate throughput of server event frames, as a ratio to `JSON.parse` alone measured
 * in the same run, on two mixes of event types: ours (every `text_delta` text a 40-character ASCII
 * string) and a realistic one (texts of 5 to 40 characters, some non-ASCII, as a model streams
 * them). Peers: TypeBox with one compiled checker per type, picked by `type` (the fair baseline),
 * TypeBox given the whole union, zod 4 and Effect Schema's own union decoder; each is given the same
 * frames. Also the bytes each allocates per frame.
 */
import { Codec, ServerEvent } from "@diminuendo/protocol"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { allocatedPerUnit, type Measurement, measure, pairedRatio } from "./measure.js"
import { typeboxByType, typeboxUnion, zodUnion } from "./peers.js"
import { random, realisticText } from "./texts.js"

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

/** The two mixes: they differ only in the text of `text_delta` events. */
export type Mix = "ours" | "realistic"

/** 80% text_delta, 10% tool events, the rest mixed, a few large session_list frames. */
export const makeFrames = (count: number, mix: Mix = "ours"): Array<string> => {
  const next = random(42)
  const frames: Array<string> = []
  for (let i = 0; i < count; i++) {
    const r = i % 100
    let event: Record<string, unknown>
    if (r < 80) {
      const text = mix === "ours" ? `token ${i} of the answer, with some words ` : realisticText(next)
      event = { type: "text_delta", ...turn(i), text }
    } else if (r < 83) event = { type: "tool_call_start", ...turn(i), toolCallId: `call-${i}`, toolName: "read_file" }
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

export interface CodecRow {
  readonly name: string
  readonly measurement: Measurement
  readonly ratio: number
  readonly paired: Measurement
  /** Bytes allocated on the heap per frame, parsing included. */
  readonly bytesPerFrame: number
}

export interface CodecBenchResult {
  readonly mix: Mix
  readonly frames: number
  readonly bytes: number
  readonly rows: ReadonlyArray<CodecRow>
}

/** The contenders' names, as the tables print them; the first is the baseline. */
export const contenderNames = {
  parse: "JSON.parse alone (baseline)",
  codec: "@diminuendo/protocol Codec.decode (an Either per frame)",
  codecOrElse: "@diminuendo/protocol Codec.decodeOrElse (what the client runs)",
  typeboxByType: "JSON.parse + TypeBox Check, checker picked by type",
  typeboxUnion: "JSON.parse + TypeBox Check of the union (weaker: tries members in order)",
  zod: "JSON.parse + zod 4 discriminatedUnion.parse",
  effect: "JSON.parse + Schema.decodeUnknownSync(ServerEvent)"
} as const

export const runCodecBench = (options: {
  readonly frames: number
  readonly rounds: number
  readonly mix: Mix
}): CodecBenchResult => {
  const frames = makeFrames(options.frames, options.mix)
  const bytes = frames.reduce((n, f) => n + Buffer.byteLength(f), 0)
  const decodeEffect = Schema.decodeUnknownSync(ServerEvent.ServerEvent)
  const codec = Codec.makeClientCodec()
  // Every contender must accept every frame, so all do the same work.
  for (const frame of frames) {
    if (Either.isLeft(codec.decode(frame))) throw new Error(`codec rejected ${frame.slice(0, 80)}`)
    if (codec.decodeOrElse(frame, () => undefined) === undefined)
      throw new Error(`codec rejected ${frame.slice(0, 80)}`)
    if (!typeboxByType(JSON.parse(frame))) throw new Error(`typebox rejected ${frame.slice(0, 80)}`)
    if (!typeboxUnion.Check(JSON.parse(frame))) throw new Error(`typebox rejected ${frame.slice(0, 80)}`)
    zodUnion.parse(JSON.parse(frame))
  }
  // Index loops, and a sink kept to a small integer: a `for...of` iterator or a sum grown past a
  // small integer would allocate in the measuring loop itself.
  let sink = 0
  const seqOf = (value: unknown): number => (value as { seq?: number }).seq ?? 0
  const rejected = () => undefined
  const n = frames.length
  const contenders: Array<[string, () => void]> = [
    [
      contenderNames.parse,
      () => {
        for (let i = 0; i < n; i++) sink = (sink + seqOf(JSON.parse(frames[i]!))) | 0
      }
    ],
    [
      contenderNames.codec,
      () => {
        for (let i = 0; i < n; i++) {
          const result = codec.decode(frames[i]!)
          if (result._tag === "Right") sink = (sink + seqOf(result.right)) | 0
        }
      }
    ],
    [
      contenderNames.codecOrElse,
      () => {
        for (let i = 0; i < n; i++) {
          const value = codec.decodeOrElse(frames[i]!, rejected)
          if (value !== undefined) sink = (sink + seqOf(value)) | 0
        }
      }
    ],
    [
      contenderNames.typeboxByType,
      () => {
        for (let i = 0; i < n; i++) {
          const value = JSON.parse(frames[i]!)
          if (typeboxByType(value)) sink = (sink + seqOf(value)) | 0
        }
      }
    ],
    [
      contenderNames.typeboxUnion,
      () => {
        for (let i = 0; i < n; i++) {
          const value = JSON.parse(frames[i]!)
          if (typeboxUnion.Check(value)) sink = (sink + seqOf(value)) | 0
        }
      }
    ],
    [
      contenderNames.zod,
      () => {
        for (let i = 0; i < n; i++) sink = (sink + seqOf(zodUnion.parse(JSON.parse(frames[i]!)))) | 0
      }
    ],
    [
      contenderNames.effect,
      () => {
        for (let i = 0; i < n; i++) sink = (sink + seqOf(decodeEffect(JSON.parse(frames[i]!)))) | 0
      }
    ]
  ]
  const measurements = measure(contenders, options.rounds, frames.length)
  const allocations = contenders.map(([, run]) => allocatedPerUnit(run, frames.length))
  if (sink === 0.5) console.log(sink)
  const baseline = measurements[0]!.median
  return {
    mix: options.mix,
    frames: frames.length,
    bytes,
    rows: contenders.map(([name], i) => ({
      name,
      measurement: measurements[i]!,
      ratio: measurements[i]!.median / baseline,
      paired: pairedRatio(measurements[i]!, measurements[0]!),
      bytesPerFrame: allocations[i]!
    }))
  }
}

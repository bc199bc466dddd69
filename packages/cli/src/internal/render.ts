/**
 * How session items look to a person: one line per event (`tail`, `events`), or a turn as it
 * streams (`turn`). With `--json` they are printed as the gateway sent them instead ({@link frame}).
 *
 * @internal
 */
import type { GatewayClient } from "@diminuendo/client"
import { Codec, type ServerEvent, type Shapes } from "@diminuendo/protocol"
import * as Either from "effect/Either"
import type * as Output from "./output.js"
import type * as Style from "./style.js"

const codec = Codec.makeGatewayCodec()

/** An event as the wire frame it came in, parsed (unknown types whole), for `--json`. */
export const frame = (event: ServerEvent.ServerEvent | GatewayClient.SessionReset): unknown =>
  // A reset is the client's own item, not a wire event: printed as it is.
  event.type === "reset"
    ? event
    : Either.match(codec.encode(event), {
        onLeft: () => (event.type === "unknown" ? event.payload : event),
        onRight: (text) => JSON.parse(text)
      })

const json = (value: unknown, max = 120): string => {
  const text = JSON.stringify(value) ?? "undefined"
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

const quote = (text: string, max = 80) => json(text, max)

/** One line saying what an event is, without its envelope (`seq`, `ts`). */
export const summary = (item: GatewayClient.SessionItem | ServerEvent.ServerEvent): string => {
  switch (item.type) {
    case "text_delta":
      return quote(item.text)
    case "thinking_progress":
      return quote(item.text)
    case "turn_started":
      return `turn ${item.turnId}`
    case "turn_complete":
      return `turn ${item.turnId}: ${quote(item.finalText)}`
    case "turn_error":
      return `turn ${item.turnId}: ${item.code}: ${item.message}`
    case "message.delta":
      return `${item.role} ${item.messageId}: ${quote(item.delta)}`
    case "message.complete":
      return `${item.role} ${item.messageId}: ${quote(item.content)}`
    case "tool_call_start":
      return `${item.toolName} (${item.toolCallId})`
    case "tool_call_delta":
      return `${item.toolCallId}: ${quote(item.delta)}`
    case "tool_call":
      return `${item.toolName}(${json(item.args)}) (${item.toolCallId})`
    case "tool_result":
      return `${item.toolCallId}: ${item.status}: ${json(item.output)}`
    case "tool_error":
      return `${item.toolCallId}: ${item.error}`
    case "terminal_stream":
      return quote(item.data)
    case "terminal_complete":
      return `exit code ${item.exitCode}`
    case "usage_update":
      return `${item.inputTokens} in / ${item.outputTokens} out tokens${item.costUsd === undefined ? "" : `, $${item.costUsd.toFixed(4)}`}`
    case "usage_context":
      return `${item.usedTokens} / ${item.maxTokens} tokens of context`
    case "question_requested":
      return `${item.requestId}: ${item.questions.map((q) => q.prompt).join(" / ")}`
    case "permission_requested":
      return `${item.requestId}: ${item.toolName}: ${item.description}`
    case "approval_resolved":
      return `${item.requestId ?? "?"}: ${item.resolution ?? "resolved"}`
    case "session_state":
      return item.status
    case "sandbox_init":
    case "sandbox_ready":
      return item.sandboxId
    case "sandbox_provisioning":
      return `${item.sandboxId}${item.message === undefined ? "" : `: ${item.message}`}`
    case "sandbox_removed":
      return `${item.sandboxId}${item.reason === undefined ? "" : `: ${item.reason}`}`
    case "file_changed":
      return `${item.change} ${item.path}${item.iteration === undefined ? "" : ` (iteration ${item.iteration})`}`
    case "steer_sent":
      return item.content === undefined ? "" : quote(item.content)
    case "stop_acknowledged":
      return `turn ${item.turnId ?? "(none)"}`
    case "stream_snapshot":
      return `turn ${item.turnId}: ${quote(item.text)}`
    case "gap":
      return `events ${item.fromSeq} to ${item.toSeq} are no longer available`
    case "unknown":
      return json(item.payload)
    default:
      return ""
  }
}

/** A session item as one line: `seq type summary` (gaps stand out). */
export const eventLine = (item: GatewayClient.SessionItem | ServerEvent.ServerEvent, style: Style.Style): string => {
  if (item.type === "gap") return style.yellow(`gap      ${summary(item)}`)
  if (item.type === "reset") {
    return style.yellow(`reset    the gateway's log went back from seq ${item.previousSeq} to ${item.seq}`)
  }
  const seq = "seq" in item && typeof item.seq === "number" ? String(item.seq) : "-"
  const type = item.type === "unknown" ? `${item.eventType} (unknown type)` : item.type
  return `${style.dim(seq.padStart(6))}  ${style.cyan(type.padEnd(20))} ${summary(item)}`
}

/**
 * Streams a turn for a person: text as it comes, thinking dimmed, tool calls with their arguments
 * and results, terminal output, files, usage; the rest stays quiet.
 */
export const turnItem = (item: GatewayClient.SessionItem, output: Output.Output) => {
  const s = output.style
  switch (item.type) {
    case "text_delta":
      return output.write(item.text)
    case "thinking_progress":
      return output.line(s.dim(`thinking: ${item.text.trim()}`))
    case "tool_call":
      return output.line(s.cyan(`▸ ${item.toolName}(${json(item.args, 200)})`))
    case "tool_result":
      return output.line(s.cyan(`  ↳ ${item.status}: ${json(item.output, 200)}`))
    case "tool_error":
      return output.line(s.red(`  ↳ error: ${item.error}`))
    case "terminal_stream":
      return output.write(s.dim(item.data.replace(/^/gm, "  │ ").replace(/ {2}│ $/, "")))
    case "terminal_complete":
      return output.line(s.dim(`  │ exit code ${item.exitCode}`))
    case "file_changed":
      return output.line(s.green(`file ${summary(item)}`))
    case "usage_update":
      return output.line(s.dim(`usage: ${summary(item)}`))
    case "sandbox_ready":
      return output.line(s.dim(`sandbox ${item.sandboxId} ready`))
    case "steer_sent":
      return output.line(s.dim(`steered: ${summary(item)}`))
    case "approval_resolved":
      return output.line(s.dim(`  ↳ ${item.resolution ?? "resolved"}`))
    case "gap":
      return output.line(s.yellow(`(${summary(item)})`))
    case "turn_error":
      return output.line(s.red(`turn failed: ${item.code}: ${item.message}`))
    default:
      return output.write("")
  }
}

/** A session in a listing. */
export const sessionLine = (session: Shapes.SessionMeta, style: Style.Style): string =>
  [
    session.id,
    style.bold(session.name ?? "(unnamed)"),
    style.dim(session.agentType),
    session.status,
    ...(session.archived ? [style.yellow("archived")] : [])
  ].join("  ")

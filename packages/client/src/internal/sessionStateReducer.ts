/**
 * The reducer behind `SessionState.reduce`: what each session event changes (a patch of the
 * state's top-level fields), how turns and tool calls are found or created, gaps and holes in `seq`
 * (`skip`, `before`), resets, and events of unknown types; plus the blank turn and usage the
 * constructors share with it. Pure: no Effect, no client.
 *
 * @internal
 */
import type { ServerEvent } from "@diminuendo/protocol"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type {
  Item,
  Message,
  Request,
  Sandbox,
  SessionState,
  Terminal,
  ToolCall,
  Turn,
  TurnStatus,
  Usage
} from "../SessionState.js"

export const noUsage: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 }
export const noTerminal: Terminal = { output: "", exitCode: null }

export const makeTurn = (turnId: string, startedAt: number | null, partial: boolean): Turn => ({
  turnId,
  clientTurnId: null,
  status: "running",
  error: null,
  text: "",
  finalText: null,
  parts: [],
  thinking: "",
  thinkingActive: false,
  messages: [],
  toolCallIds: [],
  terminal: noTerminal,
  steers: [],
  usage: noUsage,
  startedAt,
  endedAt: null,
  partial
})

type Patch = { -readonly [K in keyof SessionState]?: SessionState[K] }

const lastIndexWhere = <A>(items: ReadonlyArray<A>, f: (a: A) => boolean): number => {
  for (let i = items.length - 1; i >= 0; i--) if (f(items[i]!)) return i
  return -1
}

export const isOpen = (status: TurnStatus) => status === "running" || status === "waiting" || status === "stopping"

const appendText = (turn: Turn, text: string): Turn => {
  if (text === "") return turn
  const parts = turn.parts.slice()
  const last = parts[parts.length - 1]
  if (last?.type === "text") parts[parts.length - 1] = { type: "text", text: last.text + text }
  else parts.push({ type: "text", text })
  return { ...turn, text: turn.text + text, parts }
}

/** Applies `f` to a turn, creating it (as `partial`: its start was not seen) when unknown. */
const updateTurn = (state: SessionState, turnId: string, f: (turn: Turn) => Turn): Patch => {
  const existing = HashMap.get(state.turns, turnId)
  if (Option.isSome(existing)) return { turns: HashMap.set(state.turns, turnId, f(existing.value)) }
  const turn = f(makeTurn(turnId, null, true))
  return {
    turns: HashMap.set(state.turns, turnId, turn),
    turnIds: [...state.turnIds, turnId],
    currentTurnId: isOpen(turn.status) ? turnId : state.currentTurnId
  }
}

const endTurn = (state: SessionState, turnId: string, f: (turn: Turn) => Turn): Patch => ({
  ...updateTurn(state, turnId, f),
  ...(state.currentTurnId === turnId ? { currentTurnId: null } : {})
})

/** Applies `f` to a tool call, creating it (and listing it in its turn) when unknown. */
const updateCall = (
  state: SessionState,
  turnId: string,
  toolCallId: string,
  f: (call: ToolCall) => ToolCall
): Patch => {
  const existing = HashMap.get(state.toolCalls, toolCallId)
  if (Option.isSome(existing)) return { toolCalls: HashMap.set(state.toolCalls, toolCallId, f(existing.value)) }
  const call = f({
    toolCallId,
    turnId,
    toolName: null,
    status: "pending",
    argsText: "",
    result: null,
    error: null,
    terminal: noTerminal
  })
  return {
    ...updateTurn(state, turnId, (turn) => ({
      ...turn,
      toolCallIds: [...turn.toolCallIds, toolCallId],
      parts: [...turn.parts, { type: "tool_call", toolCallId }]
    })),
    toolCalls: HashMap.set(state.toolCalls, toolCallId, call)
  }
}

const openCall = (call: ToolCall) => call.status === "pending" || call.status === "running"

/** Terminal output goes to the turn's latest tool call while it is open, otherwise to the turn. */
const updateTerminal = (state: SessionState, turnId: string, f: (terminal: Terminal) => Terminal): Patch => {
  const turn = HashMap.get(state.turns, turnId)
  const lastId = Option.isSome(turn) ? turn.value.toolCallIds[turn.value.toolCallIds.length - 1] : undefined
  const call = lastId === undefined ? Option.none() : HashMap.get(state.toolCalls, lastId)
  if (Option.isSome(call) && openCall(call.value)) {
    return {
      toolCalls: HashMap.set(state.toolCalls, call.value.toolCallId, {
        ...call.value,
        terminal: f(call.value.terminal)
      })
    }
  }
  return updateTurn(state, turnId, (t) => ({ ...t, terminal: f(t.terminal) }))
}

const addUsage = (usage: Usage, event: ServerEvent.UsageUpdate): Usage => ({
  inputTokens: usage.inputTokens + event.inputTokens,
  outputTokens: usage.outputTokens + event.outputTokens,
  cacheReadTokens: usage.cacheReadTokens + (event.cacheReadTokens ?? 0),
  cacheWriteTokens: usage.cacheWriteTokens + (event.cacheWriteTokens ?? 0),
  costUsd: usage.costUsd + (event.costUsd ?? 0)
})

const hasPendingRequest = (requests: ReadonlyArray<Request>, turnId: string) =>
  requests.some((r) => r.turnId === turnId && r.resolution === null)

const addRequest = (state: SessionState, request: Request): Patch => ({
  ...updateTurn(state, request.turnId, (turn) => ({
    ...turn,
    status: turn.status === "running" ? "waiting" : turn.status,
    parts: [...turn.parts, { type: "request", requestId: request.requestId }]
  })),
  requests: [...state.requests, request]
})

const resolve = (state: SessionState, event: ServerEvent.ApprovalResolved): Patch => {
  // Without `requestId` (a seed gateway), the oldest pending request is the one resolved; without
  // `resolution`, how it ended is unknown: "resolved".
  const index =
    event.requestId === undefined
      ? state.requests.findIndex((r) => r.resolution === null)
      : lastIndexWhere(state.requests, (r) => r.requestId === event.requestId)
  const resolution = event.resolution ?? "resolved"
  const requests =
    index === -1 ? state.requests : state.requests.map((r, i) => (i === index ? { ...r, resolution } : r))
  // A request seen before the state began (or lost in a gap) belongs, as far as can be told, to the turn in progress.
  const turnId = index === -1 ? state.currentTurnId : state.requests[index]!.turnId
  const turn = turnId === null ? Option.none() : HashMap.get(state.turns, turnId)
  if (Option.isNone(turn) || turn.value.status !== "waiting" || hasPendingRequest(requests, turn.value.turnId)) {
    return { requests }
  }
  return { requests, turns: HashMap.set(state.turns, turn.value.turnId, { ...turn.value, status: "running" }) }
}

const setSandbox = (
  state: SessionState,
  sandboxId: string,
  status: Sandbox["status"],
  extra: Partial<Pick<Sandbox, "progress" | "message" | "reason">> = {}
): Patch => ({
  sandbox: {
    sandboxId,
    status,
    progress: extra.progress ?? null,
    message: extra.message ?? null,
    reason: extra.reason ?? (state.sandbox?.sandboxId === sandboxId ? state.sandbox.reason : null)
  }
})

/** What one session event (not yet applied, of this session) changes. */
const patchFor = (state: SessionState, event: ServerEvent.SessionEvent): Patch => {
  switch (event.type) {
    case "session_state":
      return { status: event.status }
    case "stream_snapshot":
      return updateTurn(state, event.turnId, (turn) =>
        event.text.startsWith(turn.text)
          ? appendText(turn, event.text.slice(turn.text.length))
          : {
              ...turn,
              text: event.text,
              parts: [...turn.parts.filter((p) => p.type !== "text"), { type: "text", text: event.text }],
              partial: true
            }
      )
    case "turn_started": {
      if (HashMap.has(state.turns, event.turnId)) return {}
      const turn: Turn = { ...makeTurn(event.turnId, event.ts, false), clientTurnId: event.clientTurnId ?? null }
      return {
        turns: HashMap.set(state.turns, event.turnId, turn),
        turnIds: [...state.turnIds, event.turnId],
        currentTurnId: event.turnId
      }
    }
    case "text_delta":
      return updateTurn(state, event.turnId, (turn) => appendText(turn, event.text))
    case "turn_complete":
      return endTurn(state, event.turnId, (turn) => ({
        ...turn,
        status: "complete",
        finalText: event.finalText,
        thinkingActive: false,
        endedAt: event.ts
      }))
    case "turn_error":
      return endTurn(state, event.turnId, (turn) => ({
        ...turn,
        status: "failed",
        error: { code: event.code, message: event.message },
        thinkingActive: false,
        endedAt: event.ts
      }))
    case "message.delta":
    case "message.complete":
      return updateTurn(state, event.turnId, (turn) => {
        const index = lastIndexWhere(turn.messages, (m) => m.messageId === event.messageId)
        const previous = index === -1 ? "" : turn.messages[index]!.content
        const message: Message =
          event.type === "message.delta"
            ? { messageId: event.messageId, role: event.role, content: previous + event.delta, complete: false }
            : { messageId: event.messageId, role: event.role, content: event.content, complete: true }
        return {
          ...turn,
          messages:
            index === -1 ? [...turn.messages, message] : turn.messages.map((m, i) => (i === index ? message : m))
        }
      })
    case "tool_call_start":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({ ...call, toolName: event.toolName }))
    case "tool_call_delta":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        argsText: call.argsText + event.delta
      }))
    case "tool_call":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        toolName: event.toolName,
        args: event.args,
        status: openCall(call) ? "running" : call.status
      }))
    case "tool_result":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        status: "completed",
        result: { status: event.status, output: event.output }
      }))
    case "tool_error":
      return updateCall(state, event.turnId, event.toolCallId, (call) => ({
        ...call,
        status: "failed",
        error: event.error
      }))
    case "thinking_start":
      return updateTurn(state, event.turnId, (turn) => ({ ...turn, thinkingActive: true }))
    case "thinking_progress":
      return updateTurn(state, event.turnId, (turn) => ({
        ...turn,
        thinking: turn.thinking + event.text,
        thinkingActive: true
      }))
    case "thinking_complete":
      return updateTurn(state, event.turnId, (turn) => ({ ...turn, thinkingActive: false }))
    case "terminal_stream":
      return updateTerminal(state, event.turnId, (t) => ({ ...t, output: t.output + event.data }))
    case "terminal_complete":
      return updateTerminal(state, event.turnId, (t) => ({ ...t, exitCode: event.exitCode }))
    case "usage_update":
      return {
        ...updateTurn(state, event.turnId, (turn) => ({ ...turn, usage: addUsage(turn.usage, event) })),
        usage: addUsage(state.usage, event)
      }
    case "question_requested":
      return addRequest(state, {
        kind: "question",
        requestId: event.requestId,
        turnId: event.turnId,
        seq: event.seq,
        resolution: null,
        questions: event.questions
      })
    case "permission_requested":
      return addRequest(state, {
        kind: "permission",
        requestId: event.requestId,
        turnId: event.turnId,
        seq: event.seq,
        resolution: null,
        toolName: event.toolName,
        description: event.description,
        ...(event.args === undefined ? {} : { args: event.args })
      })
    case "approval_resolved":
      return resolve(state, event)
    case "sandbox_init":
      return setSandbox(state, event.sandboxId, "initializing")
    case "sandbox_provisioning":
      return setSandbox(state, event.sandboxId, "provisioning", {
        progress: event.progress ?? null,
        message: event.message ?? null
      })
    case "sandbox_ready":
      return setSandbox(state, event.sandboxId, "ready")
    case "sandbox_removed":
      return setSandbox(state, event.sandboxId, "removed", { reason: event.reason ?? null })
    case "usage_context":
      return { context: { usedTokens: event.usedTokens, maxTokens: event.maxTokens } }
    case "file_changed":
      return {
        files: [
          ...state.files,
          { path: event.path, change: event.change, iteration: event.iteration ?? null, seq: event.seq, ts: event.ts }
        ]
      }
    case "steer_sent":
      return state.currentTurnId === null
        ? {}
        : updateTurn(state, state.currentTurnId, (turn) => ({
            ...turn,
            steers: event.content === undefined ? turn.steers : [...turn.steers, event.content]
          }))
    case "stop_acknowledged": {
      const turnId = event.turnId ?? state.currentTurnId
      const turn = turnId === null ? Option.none() : HashMap.get(state.turns, turnId)
      if (Option.isNone(turn) || (turn.value.status !== "running" && turn.value.status !== "waiting")) return {}
      return { turns: HashMap.set(state.turns, turn.value.turnId, { ...turn.value, status: "stopping" }) }
    }
  }
}

/** The turns in progress become partial: what happened to them next may never be seen. */
const openTurnsPartial = (state: SessionState): SessionState["turns"] => {
  let turns = state.turns
  for (const turnId of state.turnIds) {
    const turn = HashMap.unsafeGet(turns, turnId)
    if (isOpen(turn.status) && !turn.partial) turns = HashMap.set(turns, turnId, { ...turn, partial: true })
  }
  return turns
}

/** Records that `fromSeq..toSeq` will not be applied; the turns in progress become partial. */
const skip = (state: SessionState, fromSeq: number, toSeq: number): SessionState => {
  const last = state.lastSeq
  if (last !== null && toSeq <= last) return state
  return {
    ...state,
    turns: openTurnsPartial(state),
    gaps: [...state.gaps, { fromSeq: last === null ? fromSeq : Math.max(fromSeq, last + 1), toSeq }],
    lastSeq: toSeq
  }
}

/** Before an event at `seq`: a hole after the last applied `seq` is recorded as a gap. */
const before = (state: SessionState, seq: number) =>
  state.lastSeq !== null && seq > state.lastSeq + 1 ? skip(state, state.lastSeq + 1, seq - 1) : state

const unknownEvent = (state: SessionState, event: ServerEvent.UnknownEvent): SessionState => {
  const { seq, sessionId } = event.payload
  if (typeof sessionId === "string" && sessionId !== state.sessionId) return state
  // An unknown event that carries a valid seq holds that place in the log, so a replay of it is a no-op.
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0)
    return { ...state, unknownEvents: state.unknownEvents + 1 }
  if (state.lastSeq !== null && seq <= state.lastSeq) return state
  const base = before(state, seq)
  return { ...base, unknownEvents: base.unknownEvents + 1, lastSeq: seq }
}

/** See `SessionState.reduce`. */
export const reduce = (state: SessionState, item: Item): SessionState => {
  if (item.type === "unknown") return unknownEvent(state, item)
  if (item.sessionId !== state.sessionId) return state
  if (item.type === "gap") return skip(state, item.fromSeq, item.toSeq)
  if (item.type === "reset") {
    // The log went back: the turns in progress in the old one may never be heard of again.
    return {
      ...state,
      turns: openTurnsPartial(state),
      lastSeq: item.seq,
      resets: [...state.resets, { previousSeq: item.previousSeq, seq: item.seq }]
    }
  }
  if (state.lastSeq !== null && item.seq <= state.lastSeq) return state
  const base = before(state, item.seq)
  return { ...base, ...patchFor(base, item), lastSeq: item.seq }
}

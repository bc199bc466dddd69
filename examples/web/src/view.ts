/**
 * Renders one session's state: what SessionState gives an app, on screen. Each piece is memoized
 * on the parts of the state it shows, so a streaming turn redraws only the text that grows.
 */
import { SessionState } from "@diminuendo/client"
import { h, memo, sync } from "./dom.js"

export interface Actions {
  /** The prompt the user sent for a turn (a turn's prompt is not a session event). */
  readonly promptOf: (turnId: string) => string | undefined
  /** Sends an answer; resolves to whether it was delivered (the state shows when it took effect). */
  readonly answer: (
    request: SessionState.Request,
    answers: Record<string, string>,
    dismissed?: boolean
  ) => Promise<boolean>
}

const json = (value: unknown) => JSON.stringify(value, null, 2) ?? "undefined"

const usageText = (u: SessionState.Usage) =>
  `${u.inputTokens.toLocaleString("en")} in · ${u.outputTokens.toLocaleString("en")} out` +
  (u.cacheReadTokens + u.cacheWriteTokens > 0 ? ` · cache ${u.cacheReadTokens}/${u.cacheWriteTokens}` : "") +
  ` · $${u.costUsd.toFixed(4)}`

const terminal = (t: SessionState.Terminal) =>
  h(
    "pre",
    { class: "terminal", "data-testid": "terminal" },
    t.output,
    t.exitCode === null ? null : h("span", { class: "exit" }, `exit code ${t.exitCode}`)
  )

const toolCall = (call: SessionState.ToolCall) =>
  h(
    "div",
    {
      class: `tool ${call.status}`,
      "data-testid": "tool-call",
      "data-tool-call-id": call.toolCallId,
      "data-status": call.status
    },
    h(
      "div",
      { class: "tool-head" },
      h("span", { class: "tool-name" }, call.toolName ?? "tool"),
      h("span", { class: "badge" }, call.status)
    ),
    h("pre", { class: "args", "data-testid": "tool-args" }, "args" in call ? json(call.args) : call.argsText || "…"),
    call.terminal.output !== "" || call.terminal.exitCode !== null ? terminal(call.terminal) : null,
    call.result === null
      ? null
      : h(
          "pre",
          {
            class: `result ${call.result.status}`,
            "data-testid": "tool-result",
            "data-result-status": call.result.status
          },
          json(call.result.output)
        ),
    call.error === null ? null : h("div", { class: "error", "data-testid": "tool-error" }, call.error)
  )

const requestCard = (request: SessionState.Request, actions: Actions) => {
  const pending = request.resolution === null
  const buttons: Array<HTMLButtonElement> = []
  const button = (label: string, attrs: Record<string, string>, onClick: () => void) => {
    const b = h("button", { type: "button", ...attrs }, label) as HTMLButtonElement
    b.addEventListener("click", () => {
      for (const other of buttons) other.disabled = true
      onClick()
    })
    buttons.push(b)
    return b
  }
  // The card stays until the request is resolved; if the answer did not get through, it can be sent again.
  const send = (answers: Record<string, string>, dismissed?: boolean) =>
    void actions.answer(request, answers, dismissed).then((delivered) => {
      if (!delivered) for (const b of buttons) b.disabled = false
    })
  const body =
    request.kind === "question"
      ? request.questions.map((q) => {
          const free = h("input", {
            type: "text",
            placeholder: "Your answer",
            "data-testid": "answer-text"
          }) as HTMLInputElement
          return h(
            "div",
            { class: "question" },
            h("p", {}, q.prompt),
            pending
              ? h(
                  "div",
                  { class: "choices" },
                  ...(q.options ?? []).map((option) =>
                    button(option, { "data-testid": "answer-option", "data-value": option }, () =>
                      send({ [q.id]: option })
                    )
                  ),
                  q.allowFreeText === true || (q.options ?? []).length === 0
                    ? h(
                        "span",
                        { class: "free" },
                        free,
                        button("Send", { "data-testid": "answer-send" }, () => send({ [q.id]: free.value }))
                      )
                    : null
                )
              : null
          )
        })
      : [
          h("p", {}, request.description),
          h("pre", { class: "args" }, `${request.toolName} ${"args" in request ? json(request.args) : ""}`),
          pending
            ? h(
                "div",
                { class: "choices" },
                button("Approve", { "data-testid": "approve", class: "primary" }, () => send({ decision: "approve" })),
                button("Deny", { "data-testid": "deny" }, () => send({ decision: "deny" }))
              )
            : null
        ]
  return h(
    "div",
    {
      class: `request ${pending ? "pending" : "resolved"}`,
      "data-testid": "request",
      "data-request-id": request.requestId,
      "data-kind": request.kind,
      "data-resolution": request.resolution ?? "pending"
    },
    h(
      "div",
      { class: "request-head" },
      request.kind === "question" ? "The agent asks" : "The agent asks permission",
      h("span", { class: "badge" }, request.resolution ?? "waiting for you")
    ),
    ...body,
    pending ? button("Dismiss", { "data-testid": "dismiss", class: "link" }, () => send({}, true)) : null
  )
}

/** A view of one session inside `root`; call the returned function with each new state. */
export const sessionView = (root: HTMLElement, actions: Actions) => {
  const header = memo(
    (
      session: SessionState.SessionState["session"],
      status: SessionState.SessionState["status"],
      sandbox: SessionState.SessionState["sandbox"],
      gaps: SessionState.SessionState["gaps"],
      unknown: number
    ) =>
      h(
        "header",
        { class: "session-head" },
        h("h2", {}, session?.name ?? session?.id ?? "Session"),
        h("span", { class: `badge status-${status}`, "data-testid": "session-status" }, status ?? "?"),
        sandbox === null
          ? null
          : h(
              "span",
              { class: "badge", "data-testid": "sandbox" },
              `sandbox ${sandbox.status}${sandbox.progress === null ? "" : ` ${Math.round(sandbox.progress * 100)}%`}`
            ),
        gaps.length === 0
          ? null
          : h(
              "div",
              { class: "gap", "data-testid": "gaps" },
              `Missing history: ${gaps.map((g) => `events ${g.fromSeq}–${g.toSeq}`).join(", ")} (no longer kept by the gateway).`
            ),
        unknown === 0 ? null : h("div", { class: "note" }, `${unknown} event(s) of unknown types ignored`)
      )
  )
  const history = memo((messages: SessionState.SessionState["history"]) =>
    h(
      "div",
      { class: "history" },
      ...messages.map((m) => h("div", { class: `bubble ${m.role}`, "data-testid": "history-message" }, m.content))
    )
  )
  const prompt = memo((text: string) => h("div", { class: "bubble user", "data-testid": "turn-prompt" }, text))
  const thinking = memo((text: string, active: boolean) =>
    h(
      "details",
      { class: "thinking", "data-testid": "thinking", open: active },
      h("summary", {}, active ? "Thinking…" : "Thought"),
      h("div", {}, text)
    )
  )
  const text = memo((value: string) => h("div", { class: "bubble assistant", "data-testid": "text-part" }, value))
  const message = memo((m: SessionState.Message) =>
    h(
      "div",
      {
        class: `bubble message ${m.role}`,
        "data-testid": "message",
        "data-message-id": m.messageId,
        "data-role": m.role,
        "data-complete": String(m.complete)
      },
      h("div", { class: "message-role" }, m.complete ? m.role : `${m.role} · streaming…`),
      h("div", { "data-testid": "message-content" }, m.content)
    )
  )
  const call = memo(toolCall)
  const request = memo((r: SessionState.Request) => requestCard(r, actions))
  const turnTerminal = memo(terminal)
  const footer = memo(
    (status: SessionState.TurnStatus, error: SessionState.Turn["error"], usage: SessionState.Usage, partial: boolean) =>
      h(
        "div",
        { class: "turn-foot" },
        h("span", { class: `badge turn-${status}` }, status === "running" ? "streaming…" : status),
        error === null ? null : h("span", { class: "error" }, `${error.code}: ${error.message}`),
        partial ? h("span", { class: "note" }, "joined mid-turn or after a gap: some events not seen") : null,
        usage.inputTokens + usage.outputTokens === 0
          ? null
          : h("span", { class: "usage", "data-testid": "usage-turn" }, usageText(usage))
      )
  )
  const boxes = memo((turnId: string) => h("article", { class: "turn", "data-testid": "turn", "data-turn-id": turnId }))
  const footerTotals = memo(
    (
      usage: SessionState.Usage,
      context: SessionState.SessionState["context"],
      files: SessionState.SessionState["files"]
    ) =>
      h(
        "footer",
        { class: "session-foot" },
        h("div", { "data-testid": "usage-total" }, `Total: ${usageText(usage)}`),
        context === null
          ? null
          : h(
              "div",
              { class: "context" },
              `Context ${context.usedTokens.toLocaleString("en")} / ${context.maxTokens.toLocaleString("en")} tokens`,
              h("meter", { min: 0, max: context.maxTokens, value: context.usedTokens })
            ),
        files.length === 0
          ? null
          : h(
              "ul",
              { class: "files", "data-testid": "files" },
              ...files.map((f) =>
                h("li", {}, `${f.change} ${f.path}${f.iteration === null ? "" : ` (iteration ${f.iteration})`}`)
              )
            )
      )
  )
  const list = h("div", { class: "turns" })

  return (state: SessionState.SessionState) => {
    const turns = SessionState.turns(state).map((turn) => {
      const box = boxes(turn.turnId, turn.turnId)
      box.dataset.status = turn.status
      const asked = actions.promptOf(turn.turnId)
      const calls = new Map(SessionState.toolCalls(state, turn).map((c) => [c.toolCallId, c]))
      const requests = new Map(state.requests.map((r) => [r.requestId, r]))
      sync(box, [
        ...(asked === undefined ? [] : [prompt(`${turn.turnId}:prompt`, asked)]),
        ...(turn.thinking === "" && !turn.thinkingActive
          ? []
          : [thinking(`${turn.turnId}:thinking`, turn.thinking, turn.thinkingActive)]),
        ...turn.messages.map((m) => message(`${turn.turnId}:message:${m.messageId}`, m)),
        ...turn.parts.map((part, i) =>
          part.type === "text"
            ? text(`${turn.turnId}:${i}`, part.text)
            : part.type === "tool_call"
              ? call(part.toolCallId, calls.get(part.toolCallId)!)
              : request(part.requestId, requests.get(part.requestId)!)
        ),
        ...(turn.terminal.output === "" ? [] : [turnTerminal(`${turn.turnId}:terminal`, turn.terminal)]),
        footer(`${turn.turnId}:foot`, turn.status, turn.error, turn.usage, turn.partial)
      ])
      return box
    })
    sync(list, turns)
    sync(root, [
      header("head", state.session, state.status, state.sandbox, state.gaps, state.unknownEvents),
      history("history", state.history),
      list,
      footerTotals("foot", state.usage, state.context, state.files)
    ])
  }
}

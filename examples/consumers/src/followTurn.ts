/**
 * What an app does while a coding agent works: reads the session's items until the turn's
 * `turn_complete`, answers each question (`client.answer`) and approves each permission request
 * (`client.approve`), and keeps what it saw. Shared by the app (`app.ts`) and the browser page.
 */
import type { GatewayClient, GatewayError } from "@diminuendo/client"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

export interface FollowedTurn {
  /** The text deltas, joined. */
  readonly text: string
  readonly finalText: string | null
  /** The `seq` of every session event seen, in order. */
  readonly seqs: ReadonlyArray<number>
  readonly gaps: number
  /** How the gateway resolved each question and permission (`approval_resolved`). */
  readonly resolutions: ReadonlyArray<string>
}

export const followTurn = (
  client: GatewayClient.GatewayClient,
  sessionId: string,
  turnId: string,
  items: Stream.Stream<GatewayClient.SessionItem, GatewayError>,
  /** Called with each text delta, as it arrives. */
  onText: (text: string) => void = () => {}
): Effect.Effect<FollowedTurn, GatewayError> =>
  Effect.suspend(() => {
    const seqs: Array<number> = []
    const resolutions: Array<string> = []
    let gaps = 0
    let text = ""
    let finalText: string | null = null
    return items.pipe(
      Stream.tap((item) => {
        if (item.type === "gap") gaps++
        else if (item.type !== "unknown") seqs.push(item.seq)
        switch (item.type) {
          case "text_delta":
            text += item.text
            onText(item.text)
            return Effect.void
          case "question_requested":
            // The testkit's coding agent asks which test runner to use.
            return client.answer(sessionId, item.requestId, { [item.questions[0]!.id]: "vitest" })
          case "permission_requested":
            return client.approve(sessionId, item.requestId)
          case "approval_resolved":
            resolutions.push(item.resolution ?? "resolved")
            return Effect.void
          case "turn_complete":
            finalText = item.finalText ?? null
            return Effect.void
          default:
            return Effect.void
        }
      }),
      Stream.takeUntil((item) => item.type === "turn_complete" && item.turnId === turnId),
      Stream.runDrain,
      Effect.map(() => ({ text, finalText, seqs, gaps, resolutions }))
    )
  })

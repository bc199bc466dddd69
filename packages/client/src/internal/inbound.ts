/**
 * The read loop shared by the socket transports: frames and then one close marker in a queue,
 * handed to the handler in batches.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Transport from "../Transport.js"

/** @internal */
export type Item = string | Transport.CloseInfo

/** @internal */
export const run = (
  inbound: Queue.Dequeue<Item>,
  onFrames: (frames: ReadonlyArray<string>) => Effect.Effect<void>,
  afterBatch: () => void = () => {}
): Effect.Effect<Transport.CloseInfo> =>
  Effect.gen(function* () {
    for (;;) {
      const batch = yield* Queue.takeBetween(inbound, 1, Transport.maxBatch)
      const frames: Array<string> = []
      let end: Transport.CloseInfo | undefined
      for (const item of batch) {
        if (typeof item === "string") frames.push(item)
        else end = item
      }
      if (frames.length > 0) yield* onFrames(frames)
      if (end !== undefined) return end
      afterBatch()
    }
  })

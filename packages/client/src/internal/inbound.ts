/**
 * The read loop shared by the socket transports: frames and then one close marker in a queue,
 * handed to the handler in batches.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
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

/**
 * Records a socket's close: after the frames already queued, and for whoever waits on `closed`.
 * Returns the error for a close that happens before the socket opened.
 *
 * @internal
 */
export const onClose = (
  inbound: Queue.Enqueue<Item>,
  closed: Deferred.Deferred<Transport.CloseInfo>,
  url: string,
  info: Transport.CloseInfo
): Transport.TransportError => {
  inbound.unsafeOffer(info)
  Deferred.unsafeDone(closed, Effect.succeed(info))
  return new Transport.TransportError({
    reason: "OpenFailed",
    message: `${url} closed during the handshake (${info.code})`
  })
}

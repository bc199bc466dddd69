/**
 * Why a follower stopped following its session with an error. It is the `Follow` request's
 * persisted failure, so it crosses runners: a Schema error.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * - `HandlerFailed`: the event handler kept failing on the event at `seq` after its retry
 *   schedule; the offset stays before it (the event is not skipped).
 * - `GapHandlerFailed`: the same, for the gap handler on the gap ending at `seq`.
 *
 * @since 0.1.0
 * @category errors
 */
export class FollowerError extends Schema.TaggedError<FollowerError>()("FollowerError", {
  reason: Schema.Literal("HandlerFailed", "GapHandlerFailed"),
  sessionId: Schema.String,
  seq: Schema.Number,
  message: Schema.String
}) {}

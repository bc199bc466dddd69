/**
 * Why the gateway refused a request: the `error` event the sender gets.
 *
 * @internal
 */
import type { ErrorCode } from "@diminuendo/protocol"
import * as Data from "effect/Data"

export class RequestError extends Data.TaggedError("RequestError")<{
  readonly code: ErrorCode.ErrorCode
  readonly message: string
}> {}

/**
 * Ctrl-C. By default it interrupts the command (closing the client cleanly). A command that gives
 * Ctrl-C a meaning of its own (`turn`: stop the turn first) registers a handler for as long as its
 * scope lasts; the latest registered handler gets each press.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export interface Interrupts {
  /** From now until the scope closes, each Ctrl-C calls `handler` instead of interrupting. */
  readonly register: (handler: () => void) => Effect.Effect<void, never, Scope.Scope>
}

export const Interrupts = Context.GenericTag<Interrupts>("@diminuendo/cli/Interrupts")

/** The process-wide dispatcher the bin wires to SIGINT: `press` returns false when nothing took it. */
export const makeDispatcher = () => {
  const handlers: Array<() => void> = []
  const service: Interrupts = {
    register: (handler) =>
      Effect.acquireRelease(
        Effect.sync(() => void handlers.push(handler)),
        () =>
          Effect.sync(() => {
            const at = handlers.lastIndexOf(handler)
            if (at >= 0) handlers.splice(at, 1)
          })
      )
  }
  const press = (): boolean => {
    const handler = handlers[handlers.length - 1]
    if (handler === undefined) return false
    handler()
    return true
  }
  return { service, press }
}

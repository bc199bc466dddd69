/**
 * Fault injection: what a connection's writer does to the frames it sends, for one connection or
 * (on `Gateway.faults`) for all of them. Each call changes what happens from then on;
 * {@link Faults.clear} undoes the faults set through that handle.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /** Holds every outgoing event of this type for `ms` (Effect Clock) before sending it; later frames wait behind it. */
  readonly delay: (eventType: string, ms: number) => Effect.Effect<void>
  /** Never sends events of this type (a request that expects one hangs until its timeout). */
  readonly stall: (eventType: string) => Effect.Effect<void>
  /** Stops answering `ping` (no `pong`): a half-open connection as the client sees it. */
  readonly stopPongs: Effect.Effect<void>
  /** Sends each of the next `count` session events twice. */
  readonly duplicateSessionEvents: (count: number) => Effect.Effect<void>
  /** Swaps each of the next `count` pairs of session events. */
  readonly reorderSessionEvents: (count: number) => Effect.Effect<void>
  /** Removes every fault set through this handle. */
  readonly clear: Effect.Effect<void>
}

/**
 * The faults set through one handle.
 *
 * @since 0.2.0
 * @category models
 */
export interface FaultState {
  readonly delays: Map<string, number>
  readonly stalls: Set<string>
  duplicates: number
  reorders: number
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const makeState = (): FaultState => ({ delays: new Map(), stalls: new Set(), duplicates: 0, reorders: 0 })

/**
 * The handle that sets faults in `state`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const handle = (state: FaultState): Faults => ({
  delay: (eventType, ms) => Effect.sync(() => void state.delays.set(eventType, ms)),
  stall: (eventType) => Effect.sync(() => void state.stalls.add(eventType)),
  stopPongs: Effect.sync(() => void state.stalls.add("pong")),
  duplicateSessionEvents: (count) => Effect.sync(() => void (state.duplicates += count)),
  reorderSessionEvents: (count) => Effect.sync(() => void (state.reorders += count)),
  clear: Effect.sync(() => {
    state.delays.clear()
    state.stalls.clear()
    state.duplicates = 0
    state.reorders = 0
  })
})

/**
 * One outgoing frame as the writer sees it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Outgoing {
  readonly frame: string
  readonly type: string
  /** An entry of a session's log (duplication and reordering apply only to those). */
  readonly sessionEvent: boolean
}

/**
 * What to write for one outgoing frame: after `delayMs` (when set), these frames, in order.
 *
 * @since 0.2.0
 * @category models
 */
export interface Plan {
  readonly delayMs: number | undefined
  readonly frames: ReadonlyArray<Outgoing>
}

const nothing: Plan = { delayMs: undefined, frames: [] }

/**
 * The writer transform of one connection: its own faults first, then the gateway's. Stateful (a
 * reordered frame is held until the next session event), so one per connection.
 *
 * @since 0.2.0
 * @category constructors
 */
export const transform = (local: FaultState, global: FaultState): ((item: Outgoing) => Plan) => {
  let held: Outgoing | undefined
  return (item) => {
    if (local.stalls.has(item.type) || global.stalls.has(item.type)) return nothing
    const delayMs = local.delays.get(item.type) ?? global.delays.get(item.type)
    if (!item.sessionEvent) return { delayMs, frames: [item] }
    const duplicates = local.duplicates > 0 ? local : global.duplicates > 0 ? global : undefined
    const reorders = local.reorders > 0 ? local : global.reorders > 0 ? global : undefined
    let frames: Array<Outgoing> = [item]
    if (reorders !== undefined) {
      if (held === undefined) {
        held = item
        return nothing
      }
      frames = [item, held]
      held = undefined
      reorders.reorders -= 1
    }
    if (duplicates !== undefined) {
      duplicates.duplicates -= 1
      frames = frames.flatMap((o) => [o, o])
    }
    return { delayMs, frames }
  }
}

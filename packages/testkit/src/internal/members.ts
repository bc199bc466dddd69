/**
 * Tenants and their members, with roles: the gateway reads a caller's role from here on every
 * request, so a change (a new role, a removal) applies at once.
 *
 * @internal
 */
import type { Shapes } from "@diminuendo/protocol"

export interface Members {
  /** Adds a member unless they already are one. */
  readonly add: (identity: Shapes.Identity, role: string) => void
  /** The member's current role, or `undefined` if they are not (or no longer) a member. */
  readonly roleOf: (identity: Shapes.Identity) => string | undefined
  readonly get: (tenantId: string, userId: string) => Shapes.Member | undefined
  readonly list: (tenantId: string) => ReadonlyArray<Shapes.Member>
  readonly set: (tenantId: string, member: Shapes.Member) => void
  readonly remove: (tenantId: string, userId: string) => void
}

export const make = (): Members => {
  const tenants = new Map<string, Map<string, Shapes.Member>>()
  const tenant = (tenantId: string) => {
    let members = tenants.get(tenantId)
    if (members === undefined) tenants.set(tenantId, (members = new Map()))
    return members
  }
  return {
    add: (identity, role) => {
      const members = tenant(identity.tenantId)
      if (!members.has(identity.userId))
        members.set(identity.userId, { userId: identity.userId, email: identity.email, role })
    },
    roleOf: (identity) => tenants.get(identity.tenantId)?.get(identity.userId)?.role,
    get: (tenantId, userId) => tenants.get(tenantId)?.get(userId),
    list: (tenantId) => [...(tenants.get(tenantId)?.values() ?? [])],
    set: (tenantId, member) => void tenant(tenantId).set(member.userId, member),
    remove: (tenantId, userId) => void tenants.get(tenantId)?.delete(userId)
  }
}

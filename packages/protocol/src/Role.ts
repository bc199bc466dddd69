/**
 * Who may send what (design): the roles of a tenant's members, ranked, the least role each client
 * message needs, and the rules for changing roles. The testkit gateway enforces exactly this, per
 * request against the caller's current membership; PROTOCOL.md's permission matrix is generated
 * from it. A refusal is an `error` with code `FORBIDDEN`.
 *
 * @since 0.2.0
 */
import type * as ClientMessage from "./ClientMessage.js"

/**
 * The known roles, from most to least powerful. (`MemberRole` on the wire is open: an unknown role
 * string ranks below `viewer` and may do nothing but what needs no role.)
 *
 * @since 0.2.0
 * @category models
 */
export type Role = "owner" | "admin" | "member" | "viewer"

/**
 * @since 0.2.0
 * @category constants
 */
export const roles: ReadonlyArray<Role> = ["owner", "admin", "member", "viewer"]

/**
 * A role's rank: `owner` 4, `admin` 3, `member` 2, `viewer` 1, anything else (no membership, an
 * unknown role) 0.
 *
 * @since 0.2.0
 * @category utils
 */
export const rank = (role: string | undefined): number => {
  switch (role) {
    case "owner":
      return 4
    case "admin":
      return 3
    case "member":
      return 2
    case "viewer":
      return 1
    default:
      return 0
  }
}

/**
 * @since 0.2.0
 * @category guards
 */
export const isRole = (role: string): role is Role => rank(role) > 0

/**
 * The least role each client message needs. `null`: none (sent before authenticating).
 * `manage_members` needs `viewer` to list and `admin` to change (see {@link required}).
 *
 * @since 0.2.0
 * @category permissions
 */
export const minimum = {
  authenticate: null,
  ping: null,
  list_sessions: "viewer",
  join_session: "viewer",
  leave_session: "viewer",
  get_history: "viewer",
  get_events: "viewer",
  list_files: "viewer",
  read_file: "viewer",
  file_history: "viewer",
  file_at_iteration: "viewer",
  create_session: "member",
  rename_session: "member",
  archive_session: "member",
  unarchive_session: "member",
  run_turn: "member",
  stop_turn: "member",
  steer: "member",
  answer_question: "member",
  delete_session: "admin",
  manage_members: "viewer"
} as const satisfies { readonly [T in ClientMessage.Type]: Role | null }

/**
 * The least role a given message needs (`manage_members` `set_role`/`remove`: `admin`).
 *
 * @since 0.2.0
 * @category permissions
 */
export const required = (message: ClientMessage.ClientMessage): Role | null =>
  message.type === "manage_members" && message.action !== "list" ? "admin" : minimum[message.type]

/**
 * Whether a caller of role `caller` may send `message`.
 *
 * @since 0.2.0
 * @category permissions
 */
export const allows = (caller: string | undefined, message: ClientMessage.ClientMessage): boolean => {
  const least = required(message)
  return least === null || rank(caller) >= rank(least)
}

/**
 * Why a caller may not change a member's role (or remove them), or `undefined` when they may: the
 * target must rank strictly below the caller (nobody changes their own role, the owner or an equal),
 * and a granted role must be a known role ranking strictly below the caller's (only `owner` can
 * grant `admin`; nobody can grant `owner`: a tenant keeps its one owner).
 *
 * @since 0.2.0
 * @category permissions
 */
export const refusesChange = (caller: string | undefined, target: string, granted?: string): string | undefined => {
  if (rank(target) >= rank(caller)) return `a ${caller ?? "non-member"} cannot change a member whose role is ${target}`
  if (granted === undefined) return undefined
  if (!isRole(granted)) return `unknown role ${JSON.stringify(granted)} (one of ${roles.join(", ")})`
  if (rank(granted) >= rank(caller)) return `a ${caller} cannot grant the role ${granted}`
  return undefined
}

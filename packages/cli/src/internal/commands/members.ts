/**
 * `diminuendo members [list|set-role|remove]`: the members of the tenant the connection signs in to.
 *
 * @internal
 */
import type { Shapes } from "@diminuendo/protocol"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Connection from "../connection.js"
import type * as Output from "../output.js"

const user = Args.text({ name: "user" }).pipe(Args.withDescription("The member's user id."))

const printMember = (output: Output.Output, member: Shapes.Member) =>
  output.json
    ? output.jsonLine(member)
    : output.line(`${member.userId}  ${output.style.bold(member.email)}  ${member.role}`)

const listMembers = (options: Connection.ConnectionOptions) =>
  Connection.withClient(options, (client, output) =>
    Effect.gen(function* () {
      const reply = yield* client.manageMembers({ action: "list" })
      for (const member of reply.members) yield* printMember(output, member)
    })
  )

const list = Command.make("list", Connection.options, listMembers).pipe(
  Command.withDescription("List the members (user id, email, role), one per line.")
)

const setRole = Command.make(
  "set-role",
  {
    ...Connection.options,
    user,
    role: Args.text({ name: "role" }).pipe(Args.withDescription("owner, admin, member, ..."))
  },
  (options) =>
    Connection.withClient(options, (client, output) =>
      Effect.flatMap(client.manageMembers({ action: "set_role", userId: options.user, role: options.role }), (reply) =>
        printMember(output, reply.member)
      )
    )
).pipe(Command.withDescription("Give a member a role (owners and admins only)."))

const remove = Command.make("remove", { ...Connection.options, user }, (options) =>
  Connection.withClient(options, (client, output) =>
    Effect.flatMap(client.manageMembers({ action: "remove", userId: options.user }), (reply) =>
      output.json ? output.jsonLine({ removed: reply.userId }) : output.line(`removed ${reply.userId}`)
    )
  )
).pipe(Command.withDescription("Remove a member (owners and admins only)."))

export const command = Command.make("members").pipe(
  Command.withDescription("The tenant's members: list them, set a role, or remove one."),
  Command.withSubcommands([list, setRole, remove])
)

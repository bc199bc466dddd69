/**
 * `diminuendo info`: what the gateway says about itself, who we are, and the round trip.
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Connection from "../connection.js"

export const command = Command.make("info", Connection.options, (options) =>
  Connection.withClient(options, (client, output) =>
    Effect.gen(function* () {
      const state = yield* client.state.get
      const { latencyMs } = yield* client.ping
      const connected = state._tag === "Connected" ? state : undefined
      const gateway = connected?.gateway
      const identity = connected?.identity
      if (output.json) {
        return yield* output.jsonLine({
          url: options.url,
          serverVersion: gateway?.serverVersion ?? null,
          protocolVersion: gateway?.protocolVersion ?? null,
          requiresAuth: gateway?.requiresAuth ?? null,
          features: gateway?.features ?? [],
          heartbeatIntervalMs: gateway?.heartbeatIntervalMs ?? null,
          connectionId: connected?.connectionId ?? null,
          identity: identity ?? null,
          latencyMs
        })
      }
      const s = output.style
      const unknown = s.dim("(not said)")
      const rows: Array<[string, string]> = [
        ["gateway", options.url],
        ["server version", gateway?.serverVersion ?? unknown],
        ["protocol version", gateway?.protocolVersion === undefined ? unknown : String(gateway.protocolVersion)],
        [
          "authentication",
          gateway?.requiresAuth === undefined ? unknown : gateway.requiresAuth ? "required" : "not required (dev mode)"
        ],
        [
          "features",
          gateway === undefined || gateway.features.length === 0 ? s.dim("(none)") : gateway.features.join(", ")
        ],
        ["heartbeat", gateway?.heartbeatIntervalMs === undefined ? unknown : `every ${gateway.heartbeatIntervalMs} ms`],
        [
          "identity",
          identity === undefined
            ? s.dim("(none given)")
            : `${identity.email} (${identity.userId}, tenant ${identity.tenantId})`
        ],
        ["round trip", `${latencyMs} ms`]
      ]
      for (const [name, value] of rows) yield* output.line(`${s.bold(name.padEnd(16))}  ${value}`)
    })
  )
).pipe(
  Command.withDescription(
    "Connect and print what the gateway says about itself (server and protocol version, features), the identity the connection is signed in as, and the round-trip time of a ping."
  )
)

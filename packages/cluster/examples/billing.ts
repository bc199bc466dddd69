/**
 * The README's example: a billing service that records every `usage_update` of every session of
 * its tenant, exactly once (the row and the offset commit share a transaction). One process on
 * SQLite; `FollowerRunner.layerPg` instead for several processes on PostgreSQL.
 *
 * GATEWAY_URL=ws://... GATEWAY_TOKEN=... node --import tsx examples/billing.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { FollowerRunner, Housekeeping, SessionFollower, SessionWatcher } from "../src/index.js"

const UsageTable = Layer.effectDiscard(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`CREATE TABLE IF NOT EXISTS usage (
      session_id TEXT NOT NULL, seq INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
      PRIMARY KEY (session_id, seq))`
  )
)

const Billing = SessionFollower.layer({
  handle: (event) =>
    event.type === "usage_update"
      ? Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`INSERT INTO usage (session_id, seq, input_tokens, output_tokens)
            VALUES (${event.sessionId}, ${event.seq}, ${event.inputTokens}, ${event.outputTokens})`
        )
      : Effect.void,
  batchSize: 100
})

const Runner = Layer.mergeAll(Billing, SessionWatcher.layer(), Housekeeping.layer()).pipe(
  Layer.provide(UsageTable),
  Layer.provide(
    FollowerRunner.layerGateway({
      url: process.env.GATEWAY_URL ?? "ws://127.0.0.1:8080",
      token: Redacted.make(process.env.GATEWAY_TOKEN ?? "")
    })
  ),
  Layer.provide(FollowerRunner.layerSqlite({ filename: process.env.DATABASE ?? "billing.db" }))
)

NodeRuntime.runMain(Layer.launch(Runner))

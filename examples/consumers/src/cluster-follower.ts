/**
 * Consumer 4, a cluster follower: `@diminuendo/cluster` in one process on SQLite
 * (`FollowerRunner.layerSqlite`) follows a session and records each of its events in a table, in
 * the offset's transaction (exactly once). The program creates an echo session on the runner's own
 * gateway connection (`FollowerRunner.layerGateway`), follows it (`SessionFollower.follow`), runs a
 * turn, waits until the table holds the gateway's whole log, stops the follower and prints one
 * JSON line: the seqs logged and handled, the follower's status.
 * Environment: GATEWAY_URL, DATABASE (the SQLite file).
 */
import { GatewayClient } from "@diminuendo/client"
import { FollowerRunner, SessionFollower } from "@diminuendo/cluster"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

const HandledTable = Layer.effectDiscard(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`CREATE TABLE IF NOT EXISTS handled (
      session_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, PRIMARY KEY (session_id, seq))`
  )
)

// Through the SqlClient in context: the insert and the offset commit are one transaction.
const Follower = SessionFollower.layer({
  handle: (event) =>
    Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => sql`INSERT INTO handled (session_id, seq, type) VALUES (${event.sessionId}, ${event.seq}, ${event.type})`
    )
})

const Runner = Follower.pipe(
  Layer.provideMerge(HandledTable),
  Layer.provideMerge(FollowerRunner.layerGateway({ url: process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787" })),
  Layer.provideMerge(
    FollowerRunner.layerSqlite({
      filename: process.env.DATABASE ?? "cluster.db",
      // A running Follow is interrupted this soon when the program ends (the default waits 2 s).
      shardingConfig: { entityTerminationTimeout: "100 millis" }
    })
  )
)

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const sql = yield* SqlClient.SqlClient
  const session = yield* client.createSession("echo", "followed by the cluster")
  yield* SessionFollower.follow(session.id)
  yield* Stream.runDrain(client.turn(session.id, "hello, cluster"))

  const log = yield* client.getEvents({ sessionId: session.id, limit: 1000 })
  const logged = log.flatMap((event) => (event.type === "unknown" ? [] : [event.seq]))
  const handled = yield* sql<{ readonly seq: number; readonly type: string }>`
    SELECT seq, type FROM handled WHERE session_id = ${session.id} ORDER BY seq`.pipe(
    Effect.filterOrFail((rows) => rows.length >= logged.length),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the follower did not catch up") })
  )
  const status = yield* SessionFollower.status(session.id)
  yield* SessionFollower.stop(session.id)
  console.log(
    JSON.stringify({
      sessionId: session.id,
      logged,
      handled: handled.map((row) => Number(row.seq)),
      types: handled.map((row) => row.type),
      status
    })
  )
})

NodeRuntime.runMain(program.pipe(Effect.provide(Runner)))

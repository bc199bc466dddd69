import { GatewayClient } from "@diminuendo/client"
import type { ServerEvent } from "@diminuendo/protocol"
import { Gateway } from "@diminuendo/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { FollowerError } from "../src/FollowerError.js"
import * as OffsetStore from "../src/OffsetStore.js"
import * as SessionFeed from "../src/SessionFeed.js"
import * as SessionFollower from "../src/SessionFollower.js"
import { caughtUp, counter, eventually, followerLayer, handledRows, logSeqs, record, runTurn } from "./fixtures.js"

const { metrics } = SessionFollower

/** Each seq of the gateway's log once, in order (the rows are sorted by seq). */
const assertExactlyOnce = (sessionId: string) =>
  Effect.gen(function* () {
    const rows = yield* handledRows(sessionId)
    const log = yield* logSeqs(sessionId)
    assert.deepStrictEqual(
      rows.map((row) => row.seq),
      log,
      "handled seqs (sorted, duplicates kept) equal the gateway's log"
    )
    return rows
  })

/**
 * A session turned into events, followed, and the Follow's failure: the request is persisted, so
 * asking again waits for its stored outcome.
 */
const followUntilFailure = (text: string) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient.GatewayClient
    const session = yield* client.createSession("echo")
    yield* runTurn(session.id, text)
    yield* SessionFollower.follow(session.id)
    const followers = yield* SessionFollower.SessionFollower.client
    const failure = yield* Effect.flip(followers(session.id).Follow({ sessionId: session.id }))
    assert.instanceOf(failure, FollowerError)
    return { sessionId: session.id, failure: failure as FollowerError }
  })

const offsetOf = (sessionId: string) =>
  Effect.flatMap(OffsetStore.OffsetStore, (store) => Effect.orDie(store.load(sessionId)))

describe("SessionFollower (TestRunner, gateway in memory)", () => {
  it.live("hands every event of the session to the handler exactly once, in seq order, as in the gateway's log", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const session = yield* client.createSession("echo")
      // Events before the follow starts are replayed from seq 1; later ones arrive live.
      yield* runTurn(session.id, "before the follower starts")
      yield* SessionFollower.follow(session.id)
      yield* SessionFollower.follow(session.id) // a duplicate Follow changes nothing
      yield* runTurn(session.id, "while it follows")
      yield* caughtUp(session.id)
      const rows = yield* assertExactlyOnce(session.id)
      assert.strictEqual((yield* offsetOf(session.id)).lastSeq, rows[rows.length - 1]!.seq)
      const status = yield* SessionFollower.status(session.id)
      assert.isTrue(status.following)
      assert.strictEqual(status.lastSeq, rows[rows.length - 1]!.seq)
    }).pipe(Effect.provide(followerLayer({ handle: record("owner") })), Effect.scoped)
  )

  it.live(
    "fencing: a stale second owner on another connection never moves the offset twice; every seq is handled once",
    () =>
      Effect.gen(function* () {
        const client = yield* GatewayClient.GatewayClient
        const session = yield* client.createSession("echo")
        yield* runTurn(session.id, "a first turn before both owners start")
        const refusedBefore = yield* counter(metrics.staleCommits)
        // The stale owner: the same follow loop, run by hand on its own connection, as if it were
        // still running on a runner that lost the shard.
        const staleClient = yield* GatewayClient.make({ url: "memory://gateway", pingInterval: 0 })
        const staleFeed = yield* SessionFeed.make().pipe(
          Effect.provideService(GatewayClient.GatewayClient, staleClient)
        )
        const stale = yield* SessionFollower.run(session.id, { handle: record("stale") }).pipe(
          Effect.provideService(SessionFeed.SessionFeed, staleFeed),
          Effect.fork
        )
        yield* SessionFollower.follow(session.id)
        yield* runTurn(session.id, "a second turn with both owners running")
        yield* runTurn(session.id, "and a third")
        yield* caughtUp(session.id)
        // Both have seen every event by now; let the slower one try its commits.
        yield* eventually(
          "the loser of each race had a commit refused",
          Effect.map(counter(metrics.staleCommits), (n) => n > refusedBefore)
        )
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(stale)
        const rows = yield* assertExactlyOnce(session.id)
        const log = yield* logSeqs(session.id)
        assert.strictEqual((yield* offsetOf(session.id)).lastSeq, log[log.length - 1])
        // Who won each seq depends on timing; that each seq has one row does not.
        assert.isAbove(rows.length, 0)
      }).pipe(Effect.provide(followerLayer({ handle: record("owner") })), Effect.scoped)
  )

  it.live(
    "a gap from the gateway, confirmed by a second join, reaches the gap handler; following goes on past it",
    () => {
      const gaps: Array<ServerEvent.Gap> = []
      return Effect.gen(function* () {
        const client = yield* GatewayClient.GatewayClient
        const gateway = yield* Gateway.Gateway
        const session = yield* client.createSession("echo")
        yield* runTurn(session.id, "some words that become events")
        yield* gateway.forgetEvents(session.id, 5)
        const gapsBefore = yield* counter(metrics.gaps)
        yield* SessionFollower.follow(session.id)
        yield* runTurn(session.id, "more words after the gap")
        yield* caughtUp(session.id)
        assert.deepStrictEqual(
          gaps.map((gap) => [gap.fromSeq, gap.toSeq]),
          [[1, 5]]
        )
        assert.strictEqual((yield* counter(metrics.gaps)) - gapsBefore, 1)
        const rows = yield* handledRows(session.id)
        const log = yield* logSeqs(session.id) // the retained log: seq 6 onwards
        assert.strictEqual(log[0], 6)
        assert.deepStrictEqual(
          rows.map((row) => row.seq),
          log
        )
      }).pipe(
        Effect.provide(
          followerLayer({
            handle: record("owner"),
            onGap: (gap) => Effect.sync(() => void gaps.push(gap))
          })
        ),
        Effect.scoped
      )
    }
  )

  it.live(
    "a handler that keeps failing is retried per its schedule, then the Follow fails with HandlerFailed at that seq; nothing is skipped, and restart resumes there",
    () => {
      let broken = true
      const attemptsAt4: Array<number> = []
      return Effect.gen(function* () {
        const { sessionId, failure } = yield* followUntilFailure("enough words to pass seq four")
        const session = { id: sessionId }
        assert.strictEqual(failure.reason, "HandlerFailed")
        assert.strictEqual(failure.seq, 4)
        assert.include(failure.message, "store unavailable")
        assert.strictEqual(attemptsAt4.length, 3, "the first attempt and two retries")
        assert.deepStrictEqual(
          (yield* handledRows(session.id)).map((row) => row.seq),
          [1, 2, 3]
        )
        assert.strictEqual((yield* offsetOf(session.id)).lastSeq, 3)
        const status = yield* SessionFollower.status(session.id)
        assert.isFalse(status.following)
        // Fixed: restarting runs the Follow again from the committed offset.
        broken = false
        yield* SessionFollower.restart(session.id)
        yield* caughtUp(session.id)
        yield* assertExactlyOnce(session.id)
      }).pipe(
        Effect.provide(
          followerLayer({
            handle: (event): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
              event.seq === 4 && broken
                ? Effect.zipRight(
                    Effect.sync(() => void attemptsAt4.push(Date.now())),
                    Effect.fail("store unavailable" as const)
                  )
                : record("owner")(event),
            retry: Schedule.recurs(2).pipe(Schedule.addDelay(() => "10 millis"))
          })
        ),
        Effect.scoped
      )
    }
  )

  it.live("a handler failure that clears within the schedule costs retries, not events", () => {
    let failures = 0
    return Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const session = yield* client.createSession("echo")
      const before = yield* counter(metrics.handlerFailures)
      yield* SessionFollower.follow(session.id)
      yield* runTurn(session.id, "a turn long enough to reach seq three")
      yield* caughtUp(session.id)
      yield* assertExactlyOnce(session.id)
      assert.strictEqual(failures, 2)
      assert.strictEqual((yield* counter(metrics.handlerFailures)) - before, 2)
    }).pipe(
      Effect.provide(
        followerLayer({
          handle: (event): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
            event.seq === 3 && failures < 2
              ? Effect.zipRight(
                  Effect.sync(() => void (failures += 1)),
                  Effect.die(new Error("a defect counts as a failure too"))
                )
              : record("owner")(event),
          retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(5)))
        })
      ),
      Effect.scoped
    )
  })

  it.live("batched offsets: several events per commit, still each once", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const gateway = yield* Gateway.Gateway
      const session = yield* client.createSession("echo")
      // A long turn played before the follower starts arrives as a burst on join.
      yield* gateway.scriptNextTurn(
        session.id,
        Array.from({ length: 200 }, (_, i) => ({ type: "text_delta", text: `${i} ` }))
      )
      yield* runTurn(session.id, "scripted")
      const eventsBefore = yield* counter(metrics.events)
      const commitsBefore = yield* counter(metrics.commits)
      yield* SessionFollower.follow(session.id)
      yield* caughtUp(session.id)
      const rows = yield* assertExactlyOnce(session.id)
      const events = (yield* counter(metrics.events)) - eventsBefore
      const commits = (yield* counter(metrics.commits)) - commitsBefore
      assert.strictEqual(events, rows.length)
      assert.isAtMost(commits, Math.ceil(rows.length / 2), `${commits} commits for ${events} events`)
    }).pipe(Effect.provide(followerLayer({ handle: record("owner"), batchSize: 50 })), Effect.scoped)
  )

  it.live("an event missing from what the follower sees (a hole) re-opens the feed from the committed offset", () => {
    let dropped = false
    return Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const session = yield* client.createSession("echo")
      const resyncsBefore = yield* counter(metrics.resyncs)
      yield* SessionFollower.follow(session.id)
      yield* runTurn(session.id, "enough words to pass seq five for sure")
      yield* caughtUp(session.id)
      yield* assertExactlyOnce(session.id)
      assert.isTrue(dropped)
      assert.isAtLeast((yield* counter(metrics.resyncs)) - resyncsBefore, 1)
    }).pipe(
      Effect.provide(
        followerLayer(
          { handle: record("owner") },
          {
            // The runner's client loses seq 5 once, as a late subscription would.
            wrapClient: (client): GatewayClient.GatewayClient => {
              const loseSeq5 = <E, R>(items: Stream.Stream<GatewayClient.SessionItem, E, R>) =>
                Stream.filter(items, (item) => {
                  if (item.type === "gap" || item.type === "reset" || item.seq !== 5 || dropped) return true
                  dropped = true
                  return false
                })
              return {
                ...client,
                sessionEvents: (sessionId) => client.sessionEvents(sessionId).pipe(loseSeq5),
                subscribeSession: (sessionId) => Effect.map(client.subscribeSession(sessionId), loseSeq5)
              }
            }
          }
        )
      ),
      Effect.scoped
    )
  })

  it.live("Stop answers the running Follow with stopped, for good; a deleted session's Follow ends with deleted", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const followers = yield* SessionFollower.SessionFollower.client
      const session = yield* client.createSession("echo")
      yield* SessionFollower.follow(session.id)
      yield* runTurn(session.id, "followed")
      yield* caughtUp(session.id)
      yield* SessionFollower.stop(session.id)
      const ended = yield* followers(session.id).Follow({ sessionId: session.id })
      assert.strictEqual(ended.outcome, "stopped")
      const handled = (yield* handledRows(session.id)).length
      // Where it stood when it stopped (it said 0, where it started).
      assert.strictEqual(ended.lastSeq, (yield* offsetOf(session.id)).lastSeq)
      assert.isAbove(ended.lastSeq, 0)
      yield* runTurn(session.id, "not followed any more")
      yield* Effect.sleep("200 millis")
      assert.strictEqual((yield* handledRows(session.id)).length, handled)
      assert.isTrue((yield* offsetOf(session.id)).stopped)

      const doomed = yield* client.createSession("echo")
      yield* client.deleteSession(doomed.id)
      const gone = yield* followers(doomed.id).Follow({ sessionId: doomed.id })
      assert.deepStrictEqual(gone, { outcome: "deleted", lastSeq: 0 })
    }).pipe(Effect.provide(followerLayer({ handle: record("owner") })), Effect.scoped)
  )

  it.live("the handler's writes and the offset commit share one transaction: a refused commit leaves no row", () =>
    Effect.gen(function* () {
      const store = yield* OffsetStore.OffsetStore
      const sql = yield* SqlClient.SqlClient
      yield* Effect.orDie(store.load("s"))
      yield* Effect.orDie(store.commit("s", 0, 1))
      const refused = yield* sql
        .withTransaction(
          Effect.zipRight(
            sql`INSERT INTO handled (session_id, seq, owner) VALUES ('s', 1, 'stale')`,
            store.commit("s", 0, 1)
          )
        )
        .pipe(Effect.flip)
      assert.strictEqual(refused._tag, "StaleOffset")
      assert.deepStrictEqual(yield* handledRows("s"), [])
      assert.strictEqual((yield* offsetOf("s")).lastSeq, 1)
    }).pipe(Effect.provide(followerLayer({ handle: record("owner") })), Effect.scoped)
  )
  it.live(
    "transactional: false: a handler that gives up at seq 4 in a batch leaves the offset after the events that succeeded",
    () => {
      const seen: Array<number> = []
      return Effect.gen(function* () {
        const { sessionId, failure } = yield* followUntilFailure("enough words to pass seq four")
        const session = { id: sessionId }
        assert.strictEqual(failure.seq, 4)
        assert.deepStrictEqual(seen, [1, 2, 3])
        assert.strictEqual((yield* offsetOf(session.id)).lastSeq, 3)
      }).pipe(
        Effect.provide(
          followerLayer({
            handle: (event) =>
              event.seq === 4
                ? Effect.fail("downstream refused" as const)
                : Effect.sync(() => void seen.push(event.seq)),
            transactional: false,
            batchSize: 10,
            retry: Schedule.recurs(1)
          })
        ),
        Effect.scoped
      )
    }
  )

  it.live("a drop of every gateway connection mid-turn (the runner's included) loses and repeats nothing", () =>
    Effect.gen(function* () {
      const client = yield* GatewayClient.GatewayClient
      const gateway = yield* Gateway.Gateway
      const session = yield* client.createSession("echo")
      yield* SessionFollower.follow(session.id)
      yield* gateway.scriptNextTurn(
        session.id,
        Array.from({ length: 60 }, (_, i) => ({ type: "text_delta", text: `${i} ` }))
      )
      const turn = yield* Effect.fork(runTurn(session.id, "scripted"))
      yield* eventually(
        "the follower is in the middle of the turn",
        Effect.map(handledRows(session.id), (rows) => rows.length >= 10)
      )
      for (const connection of yield* gateway.connections) yield* connection.drop()
      yield* Fiber.join(turn)
      yield* caughtUp(session.id)
      yield* assertExactlyOnce(session.id)
    }).pipe(Effect.provide(followerLayer({ handle: record("owner") }, { gateway: { agentStepMs: 5 } })), Effect.scoped)
  )
})

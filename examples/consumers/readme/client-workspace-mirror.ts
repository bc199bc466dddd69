import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { GatewayClient, NodeTransport, WorkspaceMirror } from "@diminuendo/client"
import { NodeContext } from "@effect/platform-node"
import { Effect, Stream } from "effect"

const url = process.env.GATEWAY_URL ?? "ws://127.0.0.1:8787"
const directory = fs.mkdtempSync(path.join(os.tmpdir(), "workspace-"))

const program = Effect.gen(function* () {
  const client = yield* GatewayClient.GatewayClient
  const { id: sessionId } = yield* client.createSession("coding-agent")
  const mirror = yield* WorkspaceMirror.make(client, { sessionId, directory }) // synced when it returns
  // The agent writes two files; its question is answered and its permission approved.
  yield* client
    .turn(sessionId, "Add an add() function with a test, and run it.")
    .pipe(
      Stream.runForEach((item) =>
        item.type === "question_requested"
          ? client.answer(sessionId, item.requestId, { [item.questions[0]!.id]: "vitest" })
          : item.type === "permission_requested"
            ? client.approve(sessionId, item.requestId)
            : Effect.void
      )
    )
  // The mirror follows file_changed: wait until it tracks both files.
  yield* mirror.status.changes.pipe(
    Stream.takeUntil((status) => status.filesTracked === 2),
    Stream.runDrain
  )
  console.log(fs.readFileSync(path.join(directory, "src", "add.ts"), "utf8").trim())
}).pipe(Effect.scoped) // closing the scope stops the mirror

program.pipe(
  Effect.provide(NodeTransport.layerGatewayClient({ url })),
  Effect.provide(NodeContext.layer),
  Effect.runPromise
)

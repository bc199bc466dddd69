/**
 * A minimal gateway for the streaming benchmark, run as a child process so its CPU is not charged
 * to the client under test. Speaks just enough protocol: welcome/connected/authenticated, then on
 * `join_session` a `state_snapshot` followed by FRAMES pre-encoded `text_delta` frames.
 */
import { WebSocketServer } from "ws"

const frames = Number(process.env.FRAMES ?? 10_000)
const encoded = Array.from({ length: frames }, (_, i) =>
  JSON.stringify({
    type: "text_delta",
    sessionId: "s-1",
    turnId: "t-1",
    seq: i + 1,
    ts: 1_732_000_000_000 + i,
    text: `token ${i} of the answer `
  })
)
const meta = {
  id: "s-1",
  tenantId: "t",
  name: null,
  agentType: "echo",
  status: "running",
  archived: false,
  createdAt: 1,
  updatedAt: 1,
  lastActivityAt: null
}
const server = new WebSocketServer({ host: "127.0.0.1", port: 0 })
server.on("listening", () => {
  const address = server.address()
  console.log(typeof address === "object" && address !== null ? address.port : 0)
})
server.on("connection", (socket) => {
  socket.send(
    JSON.stringify({
      type: "welcome",
      serverVersion: "bench",
      protocolVersion: 1,
      requiresAuth: false,
      features: ["requestId"]
    })
  )
  socket.send(JSON.stringify({ type: "connected", connectionId: "c", ts: 1 }))
  socket.send(JSON.stringify({ type: "authenticated", identity: { userId: "u", email: "u@bench", tenantId: "t" } }))
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString())
    if (message.type === "ping")
      socket.send(JSON.stringify({ type: "pong", ts: message.ts, serverTs: Date.now(), requestId: message.requestId }))
    if (message.type === "read_file") {
      socket.send(
        JSON.stringify({
          type: "file_content",
          sessionId: message.sessionId,
          path: message.path,
          content: "export const x = 1\n",
          encoding: "utf-8",
          requestId: message.requestId
        })
      )
    }
    if (message.type === "join_session" && message.sessionId !== "s-1") {
      // Fan-out: any other session gets FANOUT events of its own.
      const sessionId = message.sessionId as string
      const count = Number(process.env.FANOUT ?? 1000)
      const snapshot = { type: "state_snapshot", sessionId, session: { ...meta, id: sessionId }, currentTurn: null }
      socket.send(
        JSON.stringify({
          ...snapshot,
          recentHistory: [],
          subscriberCount: 1,
          sandbox: null,
          lastSeq: 0,
          requestId: message.requestId
        })
      )
      for (let k = 1; k <= count; k++) {
        socket.send(JSON.stringify({ type: "text_delta", sessionId, turnId: "t", seq: k, ts: k, text: `event ${k} ` }))
      }
      return
    }
    if (message.type === "join_session") {
      socket.send(
        JSON.stringify({
          type: "state_snapshot",
          sessionId: "s-1",
          session: meta,
          currentTurn: null,
          recentHistory: [],
          subscriberCount: 1,
          sandbox: null,
          lastSeq: 0,
          requestId: message.requestId
        })
      )
      let i = 0
      const pump = () => {
        while (i < encoded.length) {
          socket.send(encoded[i++]!)
          if (socket.bufferedAmount > 1 << 20) return setTimeout(pump, 1)
        }
      }
      pump()
    }
  })
})

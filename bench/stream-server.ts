/**
 * A minimal gateway for the client benchmarks, run as a child process so its CPU is not charged to
 * the client under test. Speaks just enough protocol: welcome/connected/authenticated; `ping`,
 * `read_file`; on `join_session` of `s-1` a `state_snapshot`, then FRAMES `text_delta` events.
 *
 * The stream must never be the bottleneck: its frames are encoded once, at start, as WebSocket
 * frames into one buffer, and written to the TCP socket in 256 KiB chunks, waiting only for
 * `drain`. (A `ws.send` per frame, pausing whenever a megabyte is buffered, capped both clients
 * at the server's pace and let the raw client read a dozen frames per socket read.)
 *
 * On `join_session` of any other session (the fan-out benchmark): FANOUT events of its own.
 */
import type { Socket } from "node:net"
import { WebSocketServer } from "ws"
import { streamWire } from "./texts.js"

const frames = Number(process.env.FRAMES ?? 10_000)
const timed = process.env.TIMED === "1"
const CHUNK = 256 * 1024

const stream = streamWire(frames)

/** Writes `data` in CHUNK-sized writes, each after the previous one drained when it had to. */
const pour = (socket: Socket, data: Buffer) => {
  let offset = 0
  const write = () => {
    while (offset < data.length && !socket.destroyed) {
      const end = Math.min(offset + CHUNK, data.length)
      const flushed = socket.write(data.subarray(offset, end))
      offset = end
      if (!flushed) return socket.once("drain", write)
    }
  }
  write()
}

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
server.on("connection", (socket, request) => {
  const tcp = request.socket as Socket
  tcp.setNoDelay(true)
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
  // TIMED=1 (bench/latency-breakdown.ts): each pong says when its request's bytes arrived and when
  // it was written, in milliseconds since the epoch (performance.timeOrigin + performance.now()).
  let arrived = 0
  if (timed) tcp.prependListener("data", () => void (arrived = performance.timeOrigin + performance.now()))
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString())
    if (message.type === "ping")
      socket.send(
        JSON.stringify({
          type: "pong",
          ts: message.ts,
          serverTs: Date.now(),
          requestId: message.requestId,
          ...(timed ? { arrivedAt: arrived, sentAt: performance.timeOrigin + performance.now() } : {})
        })
      )
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
      // ws writes this frame to the socket at once (no compression): the stream follows it.
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
      pour(tcp, stream)
    }
  })
})

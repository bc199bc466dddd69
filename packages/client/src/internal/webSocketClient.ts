/**
 * The client side of RFC 6455 over Node's `http`/`https` and `net` sockets, for `NodeTransport`.
 *
 * Why not the `ws` library's client: its receiver makes two buffer views and an event per frame,
 * and checks each text frame's UTF-8 in a pass of its own. Against a gateway that streams hundreds
 * of small frames per socket read that was a third of the client's CPU per frame (bench/ANALYSIS.md).
 * Here a socket read is parsed in place (`webSocketReceiver.ts`): a frame whole in it becomes its
 * string straight from the read's bytes, and a frame split across reads is joined once, when its
 * last byte has arrived.
 *
 * What it does not do: extensions (it offers none, so a gateway compresses nothing), subprotocols,
 * proxies, redirects. A protocol violation fails the connection with the RFC's close code (1002,
 * 1007 for text that is not UTF-8, 1009 past `maxPayload`) and nothing after it is read.
 *
 * @internal
 */

import { createHash, randomBytes, randomFillSync } from "node:crypto"
import * as http from "node:http"
import * as https from "node:https"
import type * as net from "node:net"
import { isValidCloseCode, makeReceiver } from "./webSocketReceiver.js"

export const CONNECTING = 0
export const OPEN = 1
export const CLOSING = 2
export const CLOSED = 3

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/**
 * How long a close waits for the gateway to end the TCP connection before it is destroyed. Short
 * (`ws` waits 30 s): a gateway that ignores the close must not keep a failed connection looking
 * connected, and the client resumes by `seq` on its next one anyway.
 */
const closeTimeoutMs = 1_000

/** Pongs not yet written past which the connection is dropped (a peer that pings and never reads; as `ws`). */
const maxPendingPongs = 60

export interface Options {
  readonly url: string
  /** The largest message accepted (a fragmented one counted whole); past it, 1009. */
  readonly maxPayload: number
  readonly handshakeTimeoutMs?: number | undefined
  /**
   * Bytes written and not yet taken by the gateway past which the connection is dropped (a gateway
   * that reads nothing must not make the client hold all it sends).
   */
  readonly maxBufferedBytes: number
  /** Certificate authorities to trust for `wss:` instead of the system's (tests). */
  readonly ca?: string | Buffer | undefined
}

export interface Handlers {
  /** The opening handshake failed: called once, and nothing else is. */
  readonly onOpenFailed: (message: string, status?: number, cause?: unknown) => void
  readonly onOpen: () => void
  /** A whole message: text as a string, binary as bytes. Must not throw (it runs in the socket's callback). */
  readonly onMessage: (message: string | Uint8Array) => void
  /** The connection is gone (after `onOpen`): called once. 1006 when no close frame came. */
  readonly onClose: (code: number, reason: string) => void
}

export interface WebSocketClient {
  readonly readyState: number
  /** Sends a text frame; ignored unless open. */
  send(text: string): void
  /** Starts the closing handshake (or abandons the opening one). */
  close(code: number, reason: string): void
  /** Destroys the connection at once. */
  terminate(): void
  pause(): void
  resume(): void
}

/** Masking keys, drawn from the system's random source in blocks rather than per frame. */
let masks = Buffer.alloc(0)
let maskAt = 0
const nextMask = (): Buffer => {
  if (maskAt + 4 > masks.length) {
    masks = randomFillSync(Buffer.allocUnsafe(4096))
    maskAt = 0
  }
  maskAt += 4
  return masks.subarray(maskAt - 4, maskAt)
}

/** A client frame (FIN set, masked) of `opcode` carrying `payload`. */
const frameOf = (opcode: number, payload: Buffer | string): Buffer => {
  const n = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length
  const extended = n < 126 ? 0 : n < 65_536 ? 2 : 8
  const start = 2 + extended + 4
  const frame = Buffer.allocUnsafe(start + n)
  frame[0] = 0x80 | opcode
  if (extended === 0) frame[1] = 0x80 | n
  else if (extended === 2) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(n, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2)
    frame.writeUInt32BE(n >>> 0, 6)
  }
  const mask = nextMask()
  mask.copy(frame, start - 4)
  if (typeof payload === "string") frame.write(payload, start, "utf8")
  else payload.copy(frame, start)
  for (let i = 0; i < n; i++) frame[start + i]! ^= mask[i & 3]!
  return frame
}

const closeFrame = (code: number | undefined, reason: string): Buffer => {
  if (code === undefined) return frameOf(0x8, Buffer.alloc(0))
  const text = Buffer.from(reason)
  // A control frame carries at most 125 bytes: the code and 123 of reason, cut before a character.
  let end = Math.min(text.length, 123)
  while (end < text.length && end > 0 && (text[end]! & 0xc0) === 0x80) end--
  const payload = Buffer.allocUnsafe(2 + end)
  payload.writeUInt16BE(code, 0)
  text.copy(payload, 2, 0, end)
  return frameOf(0x8, payload)
}

/** A URL's percent-encoded user or password, decoded (as it is, when its encoding is broken). */
const decoded = (part: string): string => {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

export const connect = (options: Options, handlers: Handlers): WebSocketClient => {
  let readyState = CONNECTING
  let socket: net.Socket | undefined
  let request: http.ClientRequest | undefined
  let openFailed = false
  let closeSent = false
  let closeCode = 1006
  let closeReason = ""
  let closeTimer: ReturnType<typeof setTimeout> | undefined
  let handshakeTimer: ReturnType<typeof setTimeout> | undefined

  const failOpen = (message: string, status?: number, cause?: unknown) => {
    if (openFailed || readyState !== CONNECTING) return
    openFailed = true
    readyState = CLOSED
    if (handshakeTimer !== undefined) clearTimeout(handshakeTimer)
    request?.destroy()
    socket?.destroy()
    handlers.onOpenFailed(message, status, cause)
  }

  const write = (frame: Buffer, written?: () => void) => {
    if (socket === undefined || socket.destroyed || !socket.writable) return
    socket.write(frame, written)
    if (socket.writableLength > options.maxBufferedBytes) {
      closeCode = 1006
      closeReason = `the gateway took none of the last ${socket.writableLength} bytes sent`
      socket.destroy()
    }
  }
  let pendingPongs = 0
  const pongWritten = () => {
    pendingPongs--
  }

  /** Sends a close frame (once) and gives the gateway `closeTimeoutMs` to end the connection. */
  const sendClose = (code: number | undefined, reason: string) => {
    if (closeSent) return
    closeSent = true
    readyState = CLOSING
    write(closeFrame(code, reason))
    closeTimer = setTimeout(() => socket?.destroy(), closeTimeoutMs)
    closeTimer.unref?.()
  }

  const receive = makeReceiver(options.maxPayload, {
    message: handlers.onMessage,
    ping: (payload) => {
      if (closeSent) return
      if (pendingPongs >= maxPendingPongs) return socket?.destroy()
      pendingPongs++
      write(frameOf(0xa, payload), pongWritten)
    },
    close: (code, reason) => {
      closeCode = code
      closeReason = reason
      // Echo the code (none for a close frame without one), then end the TCP connection.
      sendClose(code === 1005 ? undefined : code, "")
      socket?.end()
    },
    // Fail the connection (RFC 6455 7.1.7): a close frame with the code, then the TCP connection ends.
    fail: (code, reason) => {
      closeCode = code
      closeReason = reason
      sendClose(code, reason)
      socket?.end()
    }
  })

  // ----- the opening handshake -------------------------------------------------------------------

  let url: URL
  try {
    url = new URL(options.url)
  } catch (cause) {
    queueMicrotask(() => failOpen("the URL is not valid", undefined, cause))
    return handle()
  }
  // `http:` and `https:` stand for `ws:` and `wss:`, as `ws` takes them.
  const secure = url.protocol === "wss:" || url.protocol === "https:"
  if (!secure && url.protocol !== "ws:" && url.protocol !== "http:") {
    queueMicrotask(() => failOpen(`the URL's scheme must be ws: or wss:, not ${url.protocol}`))
    return handle()
  }
  const key = randomBytes(16).toString("base64")
  request = (secure ? https : http).request({
    // A connection of its own, never pooled.
    agent: false,
    ...(secure && options.ca !== undefined ? { ca: options.ca } : {}),
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    // Credentials in the URL go as Basic authentication, as `ws` sends them.
    ...(url.username !== "" || url.password !== ""
      ? { auth: `${decoded(url.username)}:${decoded(url.password)}` }
      : {}),
    headers: {
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": key
    }
  })
  if (options.handshakeTimeoutMs !== undefined) {
    handshakeTimer = setTimeout(() => failOpen("the opening handshake timed out"), options.handshakeTimeoutMs)
  }
  request.on("error", (cause) => failOpen(cause.message, undefined, cause))
  request.on("response", (response) => {
    response.resume()
    failOpen(`refused the upgrade with HTTP ${response.statusCode}`, response.statusCode)
  })
  request.on("upgrade", (response, upgraded: net.Socket, head: Buffer) => {
    socket = upgraded
    if (readyState !== CONNECTING || openFailed) return upgraded.destroy()
    const accept = createHash("sha1")
      .update(key + GUID)
      .digest("base64")
    const problem =
      String(response.headers.upgrade).toLowerCase() !== "websocket"
        ? "an Upgrade header that is not websocket"
        : response.headers["sec-websocket-accept"] !== accept
          ? "a wrong Sec-WebSocket-Accept"
          : response.headers["sec-websocket-extensions"] !== undefined
            ? "an extension that was not offered"
            : response.headers["sec-websocket-protocol"] !== undefined
              ? "a subprotocol that was not offered"
              : undefined
    if (problem !== undefined) return failOpen(`the server answered the upgrade with ${problem}`)
    if (handshakeTimer !== undefined) clearTimeout(handshakeTimer)
    handshakeTimer = undefined
    // The request is done with: an idle connection keeps only its socket.
    request = undefined
    readyState = OPEN
    upgraded.setNoDelay(true)
    upgraded.setTimeout(0)
    upgraded.on("data", receive)
    upgraded.on("end", () => {
      if (readyState === OPEN) readyState = CLOSING
      upgraded.end()
    })
    upgraded.on("error", () => upgraded.destroy())
    upgraded.once("close", () => {
      readyState = CLOSED
      if (closeTimer !== undefined) clearTimeout(closeTimer)
      try {
        // What was read while the socket was paused is handed over before the close (its close
        // frame included), as `ws` does.
        for (let rest = upgraded.read(); rest !== null; rest = upgraded.read()) receive(rest)
      } finally {
        handlers.onClose(closeCode, closeReason)
      }
    })
    handlers.onOpen()
    if (head.length > 0) receive(head)
  })
  request.end()
  return handle()

  function handle(): WebSocketClient {
    return {
      get readyState() {
        return readyState
      },
      send: (text) => {
        if (readyState === OPEN) write(frameOf(0x1, text))
      },
      close: (code, reason) => {
        if (readyState === CONNECTING) return failOpen("closed before the connection opened")
        if (readyState !== OPEN) return
        // A code no endpoint may send ends the connection without a close frame.
        if (!isValidCloseCode(code) || code === 1015) return socket?.destroy()
        // What the gateway's close frame says is reported (1006 if none comes), as `ws` does.
        sendClose(code, reason)
      },
      terminate: () => {
        if (readyState === CONNECTING) return failOpen("terminated before the connection opened")
        socket?.destroy()
      },
      pause: () => socket?.pause(),
      resume: () => socket?.resume()
    }
  }
}

/**
 * The client side of RFC 6455 that `NodeTransport` runs on: the receiver (`webSocketReceiver.ts`) against frames split
 * anywhere and against each violation the RFC names, and the socket against a hand-made server
 * (handshake checks, masking, ping, the closing handshake both ways, `wss:`).
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as tls from "node:tls"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as BrowserStub from "../src/internal/webSocketClient.browser.js"
import * as WebSocketClient from "../src/internal/webSocketClient.js"
import * as WebSocketReceiver from "../src/internal/webSocketReceiver.js"

// ----- frames as a server writes them -----------------------------------------------------------

interface FrameSpec {
  readonly opcode: number
  readonly payload: Uint8Array
  readonly fin?: boolean
  readonly rsv?: number
  readonly mask?: boolean
  /** Declared length, when it is to differ from the payload's (a header alone). */
  readonly length?: number
}

const frame = ({ opcode, payload, fin = true, rsv = 0, mask = false, length }: FrameSpec): Buffer => {
  const n = length ?? payload.length
  const header: Array<number> = [(fin ? 0x80 : 0) | rsv | opcode]
  const m = mask ? 0x80 : 0
  if (n < 126) header.push(m | n)
  else if (n < 65_536) header.push(m | 126, n >> 8, n & 0xff)
  else {
    const high = Math.floor(n / 2 ** 32)
    header.push(m | 127, (high >>> 24) & 0xff, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff)
    header.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
  }
  if (mask) header.push(0, 0, 0, 0)
  return Buffer.concat([Buffer.from(header), payload])
}
const text = (s: string, fin = true) => frame({ opcode: 1, payload: Buffer.from(s), fin })
const closeWith = (code: number, reason = "") => {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  return frame({ opcode: 8, payload })
}

interface Seen {
  readonly messages: Array<string | Uint8Array>
  readonly pings: Array<Buffer>
  closed?: readonly [number, string]
  failed?: readonly [number, string]
}

const receiver = (maxPayload = 1 << 20) => {
  const seen: Seen = { messages: [], pings: [] }
  const receive = WebSocketReceiver.makeReceiver(maxPayload, {
    message: (m) => void seen.messages.push(m),
    ping: (p) => void seen.pings.push(p),
    close: (code, reason) => {
      assert.isUndefined(seen.closed ?? seen.failed, "nothing after a close or a failure")
      seen.closed = [code, reason]
    },
    fail: (code, reason) => {
      assert.isUndefined(seen.closed ?? seen.failed, "nothing after a close or a failure")
      seen.failed = [code, reason]
    }
  })
  return { seen, receive }
}

/** `bytes` cut at `cuts` (positions, any order, duplicates and out-of-range ones ignored). */
const cut = (bytes: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Buffer> = []
  let from = 0
  for (const c of at) {
    out.push(bytes.subarray(from, c))
    from = c
  }
  out.push(bytes.subarray(from))
  return out
}

const message = fc.oneof(
  fc.record({ binary: fc.constant(false as const), text: fc.fullUnicodeString({ maxLength: 300 }) }),
  fc.record({ binary: fc.constant(true as const), bytes: fc.uint8Array({ maxLength: 70_000 }) })
)

describe("the receiver reads frames split anywhere", () => {
  it.prop(
    "messages (text and binary, some fragmented, pings between fragments) arrive whole and in order, however the bytes are cut",
    [
      fc.array(fc.tuple(message, fc.array(fc.nat(), { maxLength: 3 }), fc.boolean()), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 40 })
    ],
    ([messages, cuts]) => {
      const wire: Array<Buffer> = []
      const expected: Array<string | Uint8Array> = []
      const pings: Array<Buffer> = []
      for (const [m, splits, ping] of messages) {
        const payload = m.binary ? Buffer.from(m.bytes) : Buffer.from(m.text)
        expected.push(m.binary ? new Uint8Array(m.bytes) : m.text)
        // Fragments cut anywhere, a multi-byte character included: only the whole message is UTF-8.
        const parts = cut(payload, splits)
        parts.forEach((part, i) => {
          wire.push(frame({ opcode: i === 0 ? (m.binary ? 2 : 1) : 0, payload: part, fin: i === parts.length - 1 }))
          if (ping && i === 0) {
            const p = Buffer.from(`ping ${pings.length}`)
            pings.push(p)
            wire.push(frame({ opcode: 9, payload: p }))
          }
        })
      }
      const { seen, receive } = receiver()
      for (const chunk of cut(Buffer.concat(wire), cuts)) receive(chunk)
      assert.deepStrictEqual(seen.messages, expected)
      assert.deepStrictEqual(seen.pings, pings)
      assert.isUndefined(seen.failed)
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("a frame fed one byte at a time, and a 64-bit length", () => {
    const big = Buffer.alloc(70_000, "x")
    const { seen, receive } = receiver()
    const bytes = Buffer.concat([text("héllo"), frame({ opcode: 2, payload: big })])
    for (let i = 0; i < bytes.length; i++) receive(bytes.subarray(i, i + 1))
    assert.strictEqual(seen.messages[0], "héllo")
    assert.deepStrictEqual(seen.messages[1], new Uint8Array(big))
  })

  it("a message handler that throws on a frame joined across reads does not get that frame again", () => {
    const delivered: Array<string | Uint8Array> = []
    let thrown = 0
    const receive = WebSocketReceiver.makeReceiver(1 << 20, {
      message: (m) => {
        delivered.push(m)
        if (m === "split" && thrown++ === 0) throw new Error("a handler's bug")
      },
      ping: () => {},
      close: () => {},
      fail: () => assert.fail("no violation")
    })
    const bytes = text("split")
    receive(bytes.subarray(0, 3))
    assert.throws(() => receive(bytes.subarray(3)), "a handler's bug")
    receive(text("next"))
    assert.deepStrictEqual(delivered, ["split", "next"])
  })

  it("a message in 5,000 fragments of one byte arrives whole", () => {
    const payload = Buffer.from("ü".repeat(2_500))
    const { seen, receive } = receiver()
    const frames = [...payload].map((byte, i) =>
      frame({ opcode: i === 0 ? 1 : 0, payload: Buffer.from([byte]), fin: i === payload.length - 1 })
    )
    receive(Buffer.concat(frames))
    assert.deepStrictEqual(seen.messages, ["ü".repeat(2_500)])
  })

  it.prop(
    "arbitrary bytes never throw: they are read, or the stream fails with a close code, and nothing is read after",
    [fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 })],
    ([bytes, cuts]) => {
      const { seen, receive } = receiver(100)
      for (const chunk of cut(Buffer.from(bytes), cuts)) receive(chunk)
      if (seen.failed !== undefined) assert.include([1002, 1007, 1009], seen.failed[0])
    },
    { fastCheck: { numRuns: 500 } }
  )
})

describe("the receiver fails the connection on each violation", () => {
  const notUtf8 = Buffer.from([0x7b, 0xff, 0x7d])
  const cases: ReadonlyArray<readonly [string, Buffer, number]> = [
    ["a reserved bit set (no extension agreed)", frame({ opcode: 1, payload: Buffer.from("x"), rsv: 0x40 }), 1002],
    ["a masked frame from the server", frame({ opcode: 1, payload: Buffer.from("x"), mask: true }), 1002],
    ["an unknown data opcode", frame({ opcode: 3, payload: Buffer.alloc(0) }), 1002],
    ["an unknown control opcode", frame({ opcode: 0xb, payload: Buffer.alloc(0) }), 1002],
    ["a fragmented control frame", frame({ opcode: 9, payload: Buffer.alloc(0), fin: false }), 1002],
    ["a control frame over 125 bytes", frame({ opcode: 9, payload: Buffer.alloc(126) }), 1002],
    ["a control frame with a 64-bit length", Buffer.from([0x89, 0x7f, 0, 0, 0, 0, 0, 0, 0, 1, 0x41]), 1002],
    ["a continuation with nothing to continue", frame({ opcode: 0, payload: Buffer.from("x") }), 1002],
    ["a new message inside a fragmented one", Buffer.concat([text("a", false), text("b")]), 1002],
    ["a text frame that is not UTF-8", frame({ opcode: 1, payload: notUtf8 }), 1007],
    [
      "a fragmented text that is not UTF-8",
      Buffer.concat([
        frame({ opcode: 1, payload: notUtf8.subarray(0, 2), fin: false }),
        frame({ opcode: 0, payload: notUtf8.subarray(2) })
      ]),
      1007
    ],
    ["a frame over maxPayload (its header alone)", frame({ opcode: 2, payload: Buffer.alloc(0), length: 101 }), 1009],
    [
      "fragments over maxPayload together",
      Buffer.concat([
        frame({ opcode: 2, payload: Buffer.alloc(60), fin: false }),
        frame({ opcode: 0, payload: Buffer.alloc(41) })
      ]),
      1009
    ],
    ["a 64-bit length past 2^53", frame({ opcode: 2, payload: Buffer.alloc(0), length: 2 ** 53 + 2 ** 32 }), 1009],
    ["a close frame of one byte", frame({ opcode: 8, payload: Buffer.from([3]) }), 1002],
    ["close code 999", closeWith(999), 1002],
    ["close code 1005 sent on the wire", closeWith(1005), 1002],
    ["close code 2000", closeWith(2000), 1002],
    ["close code 5000", closeWith(5000), 1002],
    [
      "a close reason that is not UTF-8",
      frame({ opcode: 8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), notUtf8]) }),
      1007
    ]
  ]
  for (const [name, bytes, code] of cases) {
    it(`${name}: ${code}, and what follows is not read`, () => {
      const { seen, receive } = receiver(100)
      receive(Buffer.concat([text("before"), bytes, text("after")]))
      assert.deepStrictEqual(seen.messages, ["before"])
      assert.strictEqual(seen.failed?.[0], code)
      receive(text("later"))
      assert.deepStrictEqual(seen.messages, ["before"])
    })
  }

  it("a close frame gives its code and reason (1005 without one), and nothing after it is read", () => {
    const a = receiver()
    a.receive(Buffer.concat([text("x"), closeWith(4001, "bye ✓"), text("after")]))
    assert.deepStrictEqual(a.seen.messages, ["x"])
    assert.deepStrictEqual(a.seen.closed, [4001, "bye ✓"])
    const b = receiver()
    b.receive(frame({ opcode: 8, payload: Buffer.alloc(0) }))
    assert.deepStrictEqual(b.seen.closed, [1005, ""])
  })

  it("U+FFFD sent as text is text", () => {
    const { seen, receive } = receiver()
    receive(text("a\uFFFDb"))
    assert.deepStrictEqual(seen.messages, ["a\uFFFDb"])
  })
})

// ----- a hand-made server ------------------------------------------------------------------------

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
const acceptOf = (key: string) =>
  createHash("sha1")
    .update(key + GUID)
    .digest("base64")

interface ClientFrame {
  readonly opcode: number
  readonly payload: Buffer
  readonly masked: boolean
}

/** Reads the client's frames from a server socket (whole frames, unmasked). */
const clientFrames = (socket: net.Socket, onFrame: (f: ClientFrame) => void) => {
  let buffer = Buffer.alloc(0)
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (buffer.length < 2) return
      const opcode = buffer[0]! & 0x0f
      const masked = (buffer[1]! & 0x80) !== 0
      let n = buffer[1]! & 0x7f
      let o = 2
      if (n === 126) {
        if (buffer.length < 4) return
        n = buffer.readUInt16BE(2)
        o = 4
      } else if (n === 127) {
        if (buffer.length < 10) return
        n = buffer.readUInt32BE(2) * 2 ** 32 + buffer.readUInt32BE(6)
        o = 10
      }
      const mask = masked ? buffer.subarray(o, o + 4) : undefined
      if (masked) o += 4
      if (buffer.length < o + n) return
      const payload = Buffer.from(buffer.subarray(o, o + n))
      if (mask !== undefined) for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!
      buffer = buffer.subarray(o + n)
      onFrame({ opcode, payload, masked })
    }
  })
}

/**
 * A TCP server that answers the upgrade with `respond(key)` (the 101 by default) and hands each
 * upgraded socket to `onSocket`; closed with the scope.
 */
const server = (
  onSocket: (socket: net.Socket, key: string) => void,
  options: {
    readonly respond?: (key: string, head: string) => string | undefined
    readonly secure?: boolean
    /** Bytes written in the same write as the 101. */
    readonly withResponse?: Buffer
    /** Whether the server keeps its side open after the client ends its own (one that ignores a close). */
    readonly allowHalfOpen?: boolean
  } = {}
) =>
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; url: string; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")
      const onConnection = (socket: net.Socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        let head = ""
        const onData = (chunk: Buffer) => {
          head += chunk.toString("latin1")
          const end = head.indexOf("\r\n\r\n")
          if (end === -1) return
          socket.removeListener("data", onData)
          const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? ""
          const response =
            options.respond === undefined
              ? `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\n`
              : options.respond(key, head)
          if (response === undefined) return
          socket.write(Buffer.concat([Buffer.from(response, "latin1"), options.withResponse ?? Buffer.alloc(0)]))
          onSocket(socket, key)
        }
        socket.on("data", onData)
      }
      const s = options.secure
        ? tls.createServer(
            {
              key: fs.readFileSync(path.join(fixtures, "localhost-key.pem")),
              cert: fs.readFileSync(path.join(fixtures, "localhost-cert.pem"))
            },
            onConnection
          )
        : net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, onConnection)
      s.listen(0, "127.0.0.1", () => {
        const address = s.address() as net.AddressInfo
        resume(
          Effect.succeed({
            server: s,
            url: `${options.secure ? "wss" : "ws"}://127.0.0.1:${address.port}/path?q=1`,
            sockets
          })
        )
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

interface Events {
  readonly messages: Array<string | Uint8Array>
  opened: boolean
  openFailed?: { readonly message: string; readonly status: number | undefined }
  closed?: readonly [number, string]
}

/** Connects, and waits until `until(events)` holds (bounded). */
const connect = (
  url: string,
  options: Partial<WebSocketClient.Options> = {},
  onOpen: (client: WebSocketClient.WebSocketClient) => void = () => {}
) => {
  const events: Events = { messages: [], opened: false }
  const client = WebSocketClient.connect(
    {
      url,
      maxPayload: 1 << 20,
      ca: fs.readFileSync(new URL("fixtures/localhost-cert.pem", import.meta.url)),
      ...options,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 << 20
    },
    {
      onOpenFailed: (message, status) => void (events.openFailed = { message, status }),
      onOpen: () => {
        events.opened = true
        onOpen(client)
      },
      onMessage: (m) => void events.messages.push(m),
      onClose: (code, reason) => void (events.closed = [code, reason])
    }
  )
  return { client, events }
}

const until = (done: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 300; i++) {
      if (done()) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`timed out waiting until ${what}`)
  })

describe("the socket, against a hand-made server", () => {
  it.scopedLive("frames written with the 101 are read; the client's frames are masked; a ping gets its pong", () =>
    Effect.gen(function* () {
      const received: Array<ClientFrame> = []
      const { url } = yield* server((socket) => {
        socket.write(Buffer.concat([text("first"), frame({ opcode: 9, payload: Buffer.from("p!") })]))
        clientFrames(socket, (f) => received.push(f))
      })
      const { client, events } = connect(url)
      yield* until(() => events.messages.length === 1, "the first frame arrived")
      assert.deepStrictEqual(events.messages, ["first"])
      yield* until(() => received.length === 1, "the pong arrived")
      assert.strictEqual(received[0]!.opcode, 0xa)
      assert.deepStrictEqual(received[0]!.payload, Buffer.from("p!"))
      const long = "é".repeat(40_000)
      client.send("hello")
      yield* until(() => received.length === 2, "the text arrived")
      client.send(long)
      yield* until(() => received.length === 3, "the long text arrived")
      assert.isTrue(received.every((f) => f.masked))
      assert.strictEqual(received[1]!.payload.toString(), "hello")
      assert.strictEqual(received[2]!.payload.toString(), long)
      client.terminate()
    })
  )

  it.scopedLive("frames in the same TCP segment as the 101 are read", () =>
    Effect.gen(function* () {
      const { url } = yield* server(() => {}, { withResponse: Buffer.concat([text("in the head"), text("too")]) })
      const { client, events } = connect(url)
      yield* until(() => events.messages.length === 2, "the frames arrived")
      assert.deepStrictEqual(events.messages, ["in the head", "too"])
      client.terminate()
    })
  )

  for (const [name, respond, expected] of [
    ["a refusal", () => "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "HTTP 403"],
    [
      "a wrong Sec-WebSocket-Accept",
      () =>
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
      "Sec-WebSocket-Accept"
    ],
    [
      "an extension that was not offered",
      (key: string) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
      "extension"
    ]
  ] as const) {
    it.scopedLive(`the opening handshake fails on ${name}`, () =>
      Effect.gen(function* () {
        const { url } = yield* server(() => {}, { respond })
        const { events } = connect(url)
        yield* until(() => events.openFailed !== undefined, "the open failed")
        assert.include(events.openFailed!.message, expected)
        if (name === "a refusal") assert.strictEqual(events.openFailed!.status, 403)
        assert.isFalse(events.opened)
      })
    )
  }

  it.scopedLive("a server that never answers the upgrade: the open fails at the handshake timeout", () =>
    Effect.gen(function* () {
      const { url, sockets } = yield* server(() => {}, { respond: () => undefined })
      const started = Date.now()
      const { events } = connect(url, { handshakeTimeoutMs: 200 })
      yield* until(() => events.openFailed !== undefined, "the open failed")
      assert.include(events.openFailed!.message, "timed out")
      assert.isAtLeast(Date.now() - started, 150)
      yield* until(() => sockets.size === 0, "the socket was closed")
    })
  )

  it.scopedLive("the gateway closes: its code and reason are reported, its close frame echoed", () =>
    Effect.gen(function* () {
      const received: Array<ClientFrame> = []
      let ended = false
      const { url } = yield* server((socket) => {
        clientFrames(socket, (f) => received.push(f))
        socket.on("end", () => {
          ended = true
          socket.end()
        })
        socket.write(closeWith(4001, "bye"))
      })
      const { events } = connect(url)
      yield* until(() => events.closed !== undefined, "the connection closed")
      assert.deepStrictEqual(events.closed, [4001, "bye"])
      assert.strictEqual(received[0]?.opcode, 8)
      assert.strictEqual(received[0]?.payload.readUInt16BE(0), 4001)
      assert.isTrue(ended)
    })
  )

  it.scopedLive("the client closes: its close frame goes out, the gateway's answer is reported", () =>
    Effect.gen(function* () {
      const received: Array<ClientFrame> = []
      const { url } = yield* server((socket) => {
        clientFrames(socket, (f) => {
          received.push(f)
          if (f.opcode === 8) {
            socket.write(closeWith(f.payload.readUInt16BE(0)))
            socket.end()
          }
        })
      })
      const { client, events } = connect(url)
      yield* until(() => events.opened, "open")
      client.close(1000, "done")
      assert.strictEqual(client.readyState, WebSocketClient.CLOSING)
      yield* until(() => events.closed !== undefined, "the connection closed")
      assert.strictEqual(received[0]?.payload.readUInt16BE(0), 1000)
      assert.strictEqual(received[0]?.payload.subarray(2).toString(), "done")
      assert.deepStrictEqual(events.closed, [1000, ""])
      assert.strictEqual(client.readyState, WebSocketClient.CLOSED)
    })
  )

  it.scopedLive(
    "a violation: the close frame carries its code, the TCP connection ends, nothing after it is read",
    () =>
      Effect.gen(function* () {
        const received: Array<ClientFrame> = []
        let ended = false
        const { url } = yield* server((socket) => {
          clientFrames(socket, (f) => received.push(f))
          socket.on("end", () => {
            ended = true
            socket.end()
          })
          socket.write(Buffer.concat([text("ok"), frame({ opcode: 1, payload: Buffer.from([0xff]) }), text("after")]))
        })
        const { events } = connect(url)
        yield* until(() => events.closed !== undefined, "the connection closed")
        assert.deepStrictEqual(events.messages, ["ok"])
        assert.strictEqual(events.closed![0], 1007)
        assert.strictEqual(received[0]?.opcode, 8)
        assert.strictEqual(received[0]?.payload.readUInt16BE(0), 1007)
        assert.isTrue(ended)
      })
  )

  it.scopedLive("the TCP connection drops without a close frame: 1006", () =>
    Effect.gen(function* () {
      const { url } = yield* server((socket) => socket.destroy())
      const { events } = connect(url)
      yield* until(() => events.closed !== undefined, "the connection closed")
      assert.strictEqual(events.closed![0], 1006)
    })
  )

  it.scopedLive(
    "a gateway that ignores the close after a violation: the connection is reported closed within about a second",
    () =>
      Effect.gen(function* () {
        const { url } = yield* server(
          (socket) => {
            socket.on("data", () => {})
            socket.write(frame({ opcode: 1, payload: Buffer.from([0xff]) }))
          },
          { allowHalfOpen: true }
        )
        const { events } = connect(url)
        yield* until(() => events.opened, "open")
        const started = Date.now()
        yield* until(() => events.closed !== undefined, "the connection closed")
        assert.strictEqual(events.closed![0], 1007)
        assert.isBelow(Date.now() - started, 2_500)
      })
  )

  it.scopedLive("a gateway that pings and never reads: the connection is dropped, its pongs do not pile up", () =>
    Effect.gen(function* () {
      const { url } = yield* server((socket) => {
        socket.pause()
        const pings = Buffer.concat(
          Array.from({ length: 1_000 }, () => frame({ opcode: 9, payload: Buffer.alloc(125) }))
        )
        let sent = 0
        const pour = () => {
          if (socket.destroyed || sent++ > 2_000) return
          socket.write(pings, () => setImmediate(pour))
        }
        pour()
      })
      const { events } = connect(url)
      yield* until(() => events.closed !== undefined, "the connection was dropped")
      assert.strictEqual(events.closed![0], 1006)
    })
  )

  it.scopedLive(
    "a gateway that reads nothing of what the client sends: past maxBufferedBytes the connection is dropped",
    () =>
      Effect.gen(function* () {
        const { url } = yield* server((socket) => socket.pause())
        const { client, events } = connect(url, { maxBufferedBytes: 4 << 20 })
        yield* until(() => events.opened, "open")
        const megabyte = "x".repeat(1 << 20)
        for (let i = 0; i < 200 && events.closed === undefined; i++) {
          client.send(megabyte)
          yield* Effect.sleep("5 millis")
        }
        yield* until(() => events.closed !== undefined, "the connection was dropped")
        assert.strictEqual(events.closed![0], 1006)
        assert.include(events.closed![1], "the gateway took none of the last")
      })
  )

  it.scopedLive("what was read while paused is handed over when the connection resets, its close frame included", () =>
    Effect.gen(function* () {
      const { url } = yield* server((socket) => {
        setTimeout(() => {
          socket.write(
            Buffer.concat([...Array.from({ length: 3_000 }, (_, i) => text(`m${i}`)), closeWith(1001, "going away")])
          )
          setTimeout(() => socket.resetAndDestroy(), 100)
        }, 50)
      })
      const { client, events } = connect(url, {}, (client) => client.pause())
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(events.messages, [])
      // Writing to the reset connection shows the reset while the socket is paused.
      client.send("x")
      yield* until(() => events.closed !== undefined, "the connection closed")
      assert.strictEqual(events.messages.length, 3_000)
      assert.strictEqual(events.messages[2_999], "m2999")
      assert.deepStrictEqual(events.closed, [1001, "going away"])
    })
  )

  it.scopedLive("after its close frame the client sends nothing, not even a pong", () =>
    Effect.gen(function* () {
      const received: Array<ClientFrame> = []
      const { url } = yield* server((socket) =>
        clientFrames(socket, (f) => {
          received.push(f)
          if (f.opcode === 8) socket.write(frame({ opcode: 9, payload: Buffer.from("late") }))
        })
      )
      const { client, events } = connect(url)
      yield* until(() => events.opened, "open")
      client.close(1000, "done")
      yield* until(() => events.closed !== undefined, "the connection closed")
      assert.deepStrictEqual(
        received.map((f) => f.opcode),
        [8]
      )
    })
  )

  it.scopedLive(
    "a close reason past 123 bytes is cut before a character; a code no endpoint may send drops the connection",
    () =>
      Effect.gen(function* () {
        const received: Array<ClientFrame> = []
        const { url } = yield* server((socket) => clientFrames(socket, (f) => received.push(f)))
        const first = connect(url)
        yield* until(() => first.events.opened, "open")
        first.client.close(4000, "😀".repeat(31))
        yield* until(() => received.length === 1, "the close frame arrived")
        assert.strictEqual(received[0]!.payload.subarray(2).toString(), "😀".repeat(30))
        const second = connect(url)
        yield* until(() => second.events.opened, "open")
        second.client.close(70_000, "x")
        yield* until(() => second.events.closed !== undefined, "the connection closed")
        assert.strictEqual(second.events.closed![0], 1006)
      })
  )

  it.scopedLive("http: stands for ws:, and a URL's credentials go as Basic authentication", () =>
    Effect.gen(function* () {
      let authorization: string | undefined
      const { url } = yield* server(() => {}, {
        respond: (key, head) => {
          authorization = /authorization: *(.+)\r\n/i.exec(head)?.[1]
          return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\n`
        }
      })
      const { client, events } = connect(url.replace("ws://", "http://user:p%40ss@"))
      yield* until(() => events.opened, "open")
      assert.strictEqual(authorization, `Basic ${Buffer.from("user:p@ss").toString("base64")}`)
      client.terminate()
    })
  )

  it.scopedLive("wss: the same over TLS", () =>
    Effect.gen(function* () {
      const received: Array<ClientFrame> = []
      const { url } = yield* server(
        (socket) => {
          socket.write(text("secure"))
          clientFrames(socket, (f) => received.push(f))
        },
        { secure: true }
      )
      const { client, events } = connect(url)
      yield* until(() => events.messages.length === 1, "the frame arrived")
      assert.deepStrictEqual(events.messages, ["secure"])
      client.send("back")
      yield* until(() => received.length === 1, "the text arrived")
      assert.strictEqual(received[0]!.payload.toString(), "back")
      client.terminate()
      yield* until(() => events.closed !== undefined, "the connection closed")
    })
  )

  it.scopedLive("wss against an untrusted certificate fails to open", () =>
    Effect.gen(function* () {
      const { url } = yield* server(() => {}, { secure: true })
      const { events } = connect(url, { ca: undefined })
      yield* until(() => events.openFailed !== undefined, "the open failed")
      assert.isFalse(events.opened)
    })
  )
})

describe("in a browser bundle (the package's browser field)", () => {
  it.live("NodeTransport's socket fails to open, saying what to use instead", () =>
    Effect.gen(function* () {
      let failed: string | undefined
      const client = BrowserStub.connect(
        { url: "ws://127.0.0.1:1", maxPayload: 1, maxBufferedBytes: 1 },
        {
          onOpenFailed: (message) => void (failed = message),
          onOpen: () => assert.fail("opened"),
          onMessage: () => assert.fail("a message"),
          onClose: () => assert.fail("closed")
        }
      )
      yield* until(() => failed !== undefined, "the open failed")
      assert.include(failed, "WebSocketTransport.layerGlobal")
      assert.strictEqual(client.readyState, WebSocketClient.CLOSED)
    })
  )
})

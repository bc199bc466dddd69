/**
 * The frames of a WebSocket server's byte stream, as RFC 6455 lays them out, for
 * `webSocketClient.ts`: each socket read parsed in place, a frame whole in it decoded straight from
 * its bytes, one split across reads joined once it is whole; every violation the RFC names fails
 * with its close code.
 *
 * @internal
 */
import { isUtf8 } from "node:buffer"

/** A close code a peer may send (RFC 6455 7.4, as `ws` checks it). */
/** What a receiver holds while it holds nothing: one for all (nothing is ever written into it). */
const empty = Buffer.alloc(0)

export const isValidCloseCode = (code: number) =>
  (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)

/** Text from UTF-8 bytes, or `undefined` when they are not UTF-8 (decoding puts U+FFFD for each bad sequence). */
const textOf = (bytes: Buffer, start: number, end: number): string | undefined => {
  const text = bytes.toString("utf8", start, end)
  return text.indexOf("\uFFFD") === -1 || isUtf8(bytes.subarray(start, end)) ? text : undefined
}

class Failure {
  constructor(
    readonly code: number,
    readonly reason: string
  ) {}
}

/** What a {@link makeReceiver} finds in the bytes it is given. */
export interface Received {
  /** A whole message: text as a string, binary as bytes. */
  readonly message: (message: string | Uint8Array) => void
  readonly ping: (payload: Buffer) => void
  /** A close frame: its code (1005 when it has none) and reason. Nothing after it is read. */
  readonly close: (code: number, reason: string) => void
  /** A protocol violation: the code to close with and why. Nothing after it is read. */
  readonly fail: (code: number, reason: string) => void
}

/**
 * The frames of a server's byte stream, read from each chunk given as it comes: a frame whole in
 * a chunk is read in place, one split across chunks is joined once its last byte is there. Holds
 * at most one frame's bytes (at most `maxPayload` and its header).
 */
export const makeReceiver = (maxPayload: number, received: Received): ((chunk: Buffer) => void) => {
  /** Set once a close frame came or the stream broke the protocol: nothing more is read. */
  let stopped = false
  /**
   * The fragments of a message in progress, copied into one buffer that doubles as it fills (so
   * many tiny fragments hold no more than their bytes), and the message's opcode (0 when none is).
   */
  let fragments = empty
  let fragmentsLength = 0
  let messageOpcode = 0
  /** Bytes of a frame not yet whole (the first `pendingLength`), and how many it needs in all. */
  let pending = empty
  let pendingLength = 0
  let needed = 0

  const message = (opcode: number, bytes: Buffer, start: number, end: number) => {
    if (opcode === 2) return received.message(new Uint8Array(bytes.subarray(start, end)))
    const text = textOf(bytes, start, end)
    if (text === undefined) throw new Failure(1007, "invalid UTF-8 in a text frame")
    received.message(text)
  }

  const control = (opcode: number, bytes: Buffer, start: number, end: number) => {
    if (opcode === 0x9) return received.ping(Buffer.from(bytes.subarray(start, end)))
    if (opcode === 0xa) return
    // A close frame.
    if (end - start === 1) throw new Failure(1002, "a close frame of one byte")
    stopped = true
    if (end - start === 0) return received.close(1005, "")
    const code = bytes.readUInt16BE(start)
    if (!isValidCloseCode(code)) throw new Failure(1002, `invalid close code ${code}`)
    const reason = textOf(bytes, start + 2, end)
    if (reason === undefined) throw new Failure(1007, "invalid UTF-8 in a close reason")
    received.close(code, reason)
  }

  /** Handles the frames whole in `bytes`; returns where the first incomplete one starts. */
  const frames = (bytes: Buffer): number => {
    const length = bytes.length
    let o = 0
    while (!stopped) {
      const available = length - o
      if (available < 2) {
        needed = 2
        return o
      }
      const b0 = bytes[o]!
      const b1 = bytes[o + 1]!
      const opcode = b0 & 0x0f
      const fin = (b0 & 0x80) !== 0
      if ((b0 & 0x70) !== 0) throw new Failure(1002, "reserved bits set (no extension was agreed)")
      if ((b1 & 0x80) !== 0) throw new Failure(1002, "a masked frame from the server")
      let n = b1 & 0x7f
      // A control frame's length is its 7 bits (a longer form is a violation, as `ws` says).
      if (opcode >= 0x8 && n > 125) throw new Failure(1002, "a control frame longer than 125 bytes")
      let header = 2
      if (n === 126) {
        header = 4
        if (available < header) {
          needed = header
          return o
        }
        n = bytes.readUInt16BE(o + 2)
      } else if (n === 127) {
        header = 10
        if (available < header) {
          needed = header
          return o
        }
        const high = bytes.readUInt32BE(o + 2)
        if (high > 0x1f_ffff) throw new Failure(1009, "a frame longer than 2^53 - 1 bytes")
        n = high * 2 ** 32 + bytes.readUInt32BE(o + 6)
      }
      if (opcode >= 0x8) {
        if (opcode > 0xa) throw new Failure(1002, `unknown opcode ${opcode}`)
        if (!fin) throw new Failure(1002, "a fragmented control frame")
      } else if (opcode > 0x2) throw new Failure(1002, `unknown opcode ${opcode}`)
      else if (opcode === 0 ? messageOpcode === 0 : messageOpcode !== 0) {
        throw new Failure(
          1002,
          opcode === 0 ? "a continuation frame with no message to continue" : "a new message before the last one ended"
        )
      } else if (fragmentsLength + n > maxPayload) {
        throw new Failure(1009, `a message longer than ${maxPayload} bytes`)
      }
      if (available < header + n) {
        needed = header + n
        return o
      }
      const start = o + header
      const end = start + n
      o = end
      if (opcode >= 0x8) control(opcode, bytes, start, end)
      else if (fin && opcode !== 0) message(opcode, bytes, start, end)
      else {
        if (opcode !== 0) messageOpcode = opcode
        if (fragmentsLength + n > fragments.length) {
          const grown = Buffer.allocUnsafe(
            Math.min(maxPayload, Math.max(2 * fragments.length, fragmentsLength + n, 1024))
          )
          fragments.copy(grown, 0, 0, fragmentsLength)
          fragments = grown
        }
        bytes.copy(fragments, fragmentsLength, start, end)
        fragmentsLength += n
        if (fin) {
          const whole = fragments
          const length = fragmentsLength
          const type = messageOpcode
          fragments = empty
          fragmentsLength = 0
          messageOpcode = 0
          message(type, whole, 0, length)
        }
      }
    }
    return length
  }

  /** Appends `chunk[from, to)` to `pending`, which doubles as it fills, up to the frame's size. */
  const hold = (chunk: Buffer, from: number, to: number) => {
    const required = pendingLength + to - from
    if (required > pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(required, Math.min(needed, Math.max(2 * pending.length, 1024))))
      pending.copy(grown, 0, 0, pendingLength)
      pending = grown
    }
    chunk.copy(pending, pendingLength, from, to)
    pendingLength = required
  }

  const read = (chunk: Buffer) => {
    let offset = 0
    // A frame split across reads: take what it still needs from this chunk, then read it.
    while (pendingLength > 0) {
      const take = Math.min(needed - pendingLength, chunk.length - offset)
      hold(chunk, offset, offset + take)
      offset += take
      if (pendingLength < needed) return
      // `needed` bytes are held: the frame, or a header that says how long the frame is. They are
      // taken before they are read, so a handler that throws cannot have the frame read again.
      const length = pendingLength
      pendingLength = 0
      const rest = frames(pending.subarray(0, length))
      if (stopped) return
      if (rest < length) pendingLength = length
      // A large frame's buffer is not kept for the next one.
      else if (pending.length > 65_536) pending = empty
    }
    const bytes = offset === 0 ? chunk : chunk.subarray(offset)
    const rest = frames(bytes)
    if (rest < bytes.length && !stopped) hold(bytes, rest, bytes.length)
  }

  return (chunk) => {
    if (stopped) return
    try {
      read(chunk)
    } catch (error) {
      if (!(error instanceof Failure)) throw error
      stopped = true
      pending = empty
      pendingLength = 0
      fragments = empty
      received.fail(error.code, error.reason)
    }
  }
}

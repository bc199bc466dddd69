/**
 * What reading a socket's bytes into text frames costs, without the socket: the stream server's
 * `text_delta` frames (the same texts), cut into reads of READ bytes, through the `ws` library's
 * receiver (as `NodeTransport` ran on it: UTF-8 checked per frame, then the Buffer decoded) and
 * through the client's own (`NodeTransport` now: parsed in place, decoded straight from the read).
 * Rounds alternate which runs first; CPU µs per frame (`process.cpuUsage`), median of the rounds
 * after the first two, and the per-round ratio.
 *
 * Usage (after `pnpm build`): node --import tsx bench/receive.ts [frames=50000] [rounds=12] [read=65536]
 */
// Internal (not exported by the package): the built module itself.

import * as ws from "ws"
import * as WebSocketReceiver from "../packages/client/dist/internal/webSocketReceiver.js"
import { streamWire } from "./texts.js"

const frames = Number(process.argv[2] ?? 50_000)
const rounds = Number(process.argv[3] ?? 12)
const read = Number(process.argv[4] ?? 65_536)

/** `ws`'s frame reader: exported by the package, not in its type declarations. */
const { Receiver } = ws as unknown as {
  readonly Receiver: new (options: {
    readonly isServer: boolean
    readonly maxPayload: number
  }) => {
    on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void
    write(chunk: Buffer): void
  }
}

const wire = streamWire(frames)
// Fresh buffers per round, as a socket hands over.
const reads = () => {
  const out: Array<Buffer> = []
  for (let o = 0; o < wire.length; o += read) out.push(Buffer.from(wire.subarray(o, Math.min(wire.length, o + read))))
  return out
}

let chars = 0
const contenders: Record<string, (chunks: Array<Buffer>) => void> = {
  ws: (chunks) => {
    const receiver = new Receiver({ isServer: false, maxPayload: 16 * 1024 * 1024 })
    receiver.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) chars += data.toString().length
    })
    for (const chunk of chunks) receiver.write(chunk)
  },
  client: (chunks) => {
    const receive = WebSocketReceiver.makeReceiver(16 * 1024 * 1024, {
      message: (m) => {
        if (typeof m === "string") chars += m.length
      },
      ping: () => {},
      close: () => {},
      fail: (code, reason) => {
        throw new Error(`${code} ${reason}`)
      }
    })
    for (const chunk of chunks) receive(chunk)
  }
}

const runs: Record<string, Array<number>> = { ws: [], client: [] }
const names = Object.keys(contenders)
for (let round = 0; round < rounds + 2; round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(round + k) % names.length]!
    const chunks = reads()
    const cpu = process.cpuUsage()
    contenders[name]!(chunks)
    const used = process.cpuUsage(cpu)
    if (round >= 2) runs[name]!.push((used.user + used.system) / frames)
  }
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(
  `${frames} text_delta frames in reads of ${read} bytes (${(wire.length / frames).toFixed(0)} bytes a frame), ${rounds} rounds:`
)
for (const name of names) console.log(`  ${name.padEnd(7)} ${median(runs[name]!).toFixed(3)} µs of CPU per frame`)
console.log(`  client / ws, per round: ${median(runs.client!.map((c, i) => c / runs.ws![i]!)).toFixed(2)}x (median)`)
if (chars === 0) throw new Error("nothing was read")

import * as readline from "node:readline"
import { Codec } from "@diminuendo/protocol"

const codec = Codec.makeClientCodec()
let text = ""

// One server event frame per line: echo '{"type":"heartbeat","ts":1}' | node protocol-stream-decode.js
for await (const frame of readline.createInterface({ input: process.stdin })) {
  // The event, or what the function makes of the ProtocolError: no Either per frame.
  const event = codec.decodeOrElse(frame, (error) => {
    console.log(`rejected: ${error.message}`)
    return undefined
  })
  if (event?.type === "text_delta") text += event.text
}
console.log(`text: ${text}`)

import * as readline from "node:readline"
import { Codec, ErrorCode, ServerEvent } from "@diminuendo/protocol"
import { Either } from "effect"

const codec = Codec.makeGatewayCodec({ maxFrameBytes: 1024 * 1024 })

/** What a gateway does with a text frame from a client: the message to act on, or the `error` frame to answer. */
const receive = (frame: string) => {
  // Never throws, whatever the frame holds: a Right, or a Left with a ProtocolError.
  const decoded = codec.decode(frame)
  if (Either.isLeft(decoded)) {
    // decoded.left: ProtocolError { reason, messageType?, path, message }, e.g. "run_turn.sessionId: is missing"
    const code = ErrorCode.fromProtocolError(decoded.left) // FRAME_TOO_LARGE, UNKNOWN_TYPE or INVALID_MESSAGE
    // encode validates what it sends, and says why in a Left (never a throw) when it cannot
    return {
      ok: false,
      reply: codec.encode(ServerEvent.make("error", { code, message: decoded.left.message }))
    } as const
  }
  return { ok: true, message: decoded.right } as const // a ClientMessage, narrowed by message.type
}

// One frame per line: echo '{"type":"run_turn","text":"hi"}' | node protocol-validate.js
for await (const line of readline.createInterface({ input: process.stdin })) {
  const received = receive(line)
  if (received.ok) console.log(`${received.message.type}: accepted`)
  else
    Either.match(received.reply, {
      onLeft: (cannot) => console.error(cannot.message),
      onRight: (frame) => console.log(frame)
    })
}

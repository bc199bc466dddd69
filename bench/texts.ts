/**
 * The text of `text_delta` events as a model streams them: 5 to 40 characters of word pieces,
 * spaces, punctuation and code, one text in five with non-ASCII pieces. Deterministic, so every
 * run and every contender sees the same frames.
 */

// Word pieces, spaces, punctuation, code; now and then a non-ASCII piece.
const ascii = [
  " the",
  " a",
  " function",
  " return",
  " value",
  "s",
  " to",
  " of",
  ",",
  ".",
  "\n",
  " `",
  "x",
  "()",
  " is"
]
const nonAscii = ["é", " naïve", " über", " 日本語", " 中文", " 🙂", " —", "’s", " →", " café"]

/** A linear congruential generator: numbers in [0, 1), the same sequence for the same seed. */
export const random = (seed: number) => () => {
  seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
  return seed / 2 ** 32
}

/** 5 to 40 characters (code points); one text in five holds non-ASCII pieces. */
export const realisticText = (next: () => number): string => {
  const length = 5 + Math.floor(next() * 36)
  const withNonAscii = next() < 0.2
  const chars: Array<string> = []
  while (chars.length < length) {
    const pool = withNonAscii && next() < 0.3 ? nonAscii : ascii
    chars.push(...pool[Math.floor(next() * pool.length)]!)
  }
  return chars.slice(0, length).join("")
}

/** A server-to-client text frame (unmasked, FIN set), as RFC 6455 lays it out. */
export const wsFrame = (text: string): Buffer => {
  const payload = Buffer.from(text)
  const n = payload.length
  const header =
    n < 126
      ? Buffer.from([0x81, n])
      : n < 65_536
        ? Buffer.from([0x81, 126, n >> 8, n & 0xff])
        : Buffer.from([0x81, 127, 0, 0, 0, 0, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([header, payload])
}

/** The stream server's bytes: `frames` `text_delta` events of session `s-1`, realistic texts, as WebSocket frames. */
export const streamWire = (frames: number): Buffer => {
  const next = random(7)
  return Buffer.concat(
    Array.from({ length: frames }, (_, i) =>
      wsFrame(
        JSON.stringify({
          type: "text_delta",
          sessionId: "s-1",
          turnId: "t-1",
          seq: i + 1,
          ts: 1_732_000_000_000 + i,
          text: realisticText(next)
        })
      )
    )
  )
}

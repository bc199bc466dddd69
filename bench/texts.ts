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

/**
 * Splits a byte stream into lines without holding more than a bound: a line longer than `maxBytes`
 * is reported as too large (its length so far) and its bytes are dropped as they come.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

export interface Line {
  readonly text: string
  /** UTF-8 bytes of the line (without the newline), counted up to where it was cut. */
  readonly bytes: number
  readonly tooLarge: boolean
}

export const stdin: Stream.Stream<Uint8Array> = Stream.fromAsyncIterable(
  process.stdin as AsyncIterable<Uint8Array>,
  (error) => error
).pipe(Stream.orDie)

/** Lines of UTF-8 text separated by "\n" (a "\r" before it is dropped); no empty line after the last "\n". */
export const split = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>, maxBytes: number): Stream.Stream<Line, E, R> =>
  Stream.suspend(() => {
    // A byte order mark is part of the frame (and makes it invalid JSON), as the codec sees it.
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true })
    let parts: Array<Uint8Array> = []
    let size = 0
    let tooLarge = false
    const finish = (): Line => {
      const joined = new Uint8Array(tooLarge ? 0 : size)
      if (!tooLarge) {
        let at = 0
        for (const part of parts) {
          joined.set(part, at)
          at += part.length
        }
      }
      let end = joined.length
      if (end > 0 && joined[end - 1] === 13) end -= 1
      const line: Line = {
        text: tooLarge ? "" : decoder.decode(joined.subarray(0, end)),
        bytes: tooLarge ? size : end,
        tooLarge
      }
      parts = []
      size = 0
      tooLarge = false
      return line
    }
    const push = (chunk: Uint8Array) => {
      size += chunk.length
      if (tooLarge) return
      // A "\r" may still be dropped before the newline: allow one byte over the bound.
      if (size > maxBytes + 1) {
        tooLarge = true
        parts = []
        return
      }
      parts.push(chunk)
    }
    const take = (chunk: Uint8Array): Array<Line> => {
      const out: Array<Line> = []
      let start = 0
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
        push(chunk.subarray(start, i))
        out.push(finish())
        start = i + 1
      }
      if (start < chunk.length) push(chunk.slice(start))
      return out
    }
    const lines = bytes.pipe(Stream.mapConcat(take))
    const rest = Stream.fromEffect(
      Effect.sync(() => (size > 0 || tooLarge ? Chunk.of(finish()) : Chunk.empty<Line>()))
    ).pipe(Stream.flattenChunks)
    return Stream.concat(lines, rest)
  })

/**
 * Colours: only on a terminal, and not when `NO_COLOR` is set to anything but "" (no-color.org).
 *
 * @internal
 */

export interface Style {
  readonly enabled: boolean
  readonly bold: (text: string) => string
  readonly dim: (text: string) => string
  readonly red: (text: string) => string
  readonly green: (text: string) => string
  readonly yellow: (text: string) => string
  readonly cyan: (text: string) => string
  readonly magenta: (text: string) => string
}

export const colorsFor = (stream: { readonly isTTY?: boolean }): boolean =>
  stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""

const paint = (enabled: boolean, open: string, close: string) => (text: string) =>
  enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text

export const make = (enabled: boolean): Style => ({
  enabled,
  bold: paint(enabled, "1", "22"),
  dim: paint(enabled, "2", "22"),
  red: paint(enabled, "31", "39"),
  green: paint(enabled, "32", "39"),
  yellow: paint(enabled, "33", "39"),
  cyan: paint(enabled, "36", "39"),
  magenta: paint(enabled, "35", "39")
})

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what it removes
const sgr = /\u001b\[[0-9;]*m/g

/** Removes colour escapes (the help `@effect/cli` prints is styled whatever the stream). */
export const strip = (text: string): string => text.replace(sgr, "")

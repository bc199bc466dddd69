/**
 * Headless Chromium for the browser tests: Debian's `chromium` (or `CHROMIUM_PATH`), driven by
 * playwright-core, as a scoped resource. The web example's test and the consumers' browser test
 * (examples/consumers) both launch it here.
 */
import * as Effect from "effect/Effect"
import { type Browser, chromium } from "playwright-core"

export const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

/** A browser with a fresh profile directory of its own, removed when it closes with the scope. */
export const launch = Effect.acquireRelease(
  Effect.promise(
    (): Promise<Browser> =>
      chromium.launch({
        executablePath,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync"
        ]
      })
  ),
  (browser) => Effect.promise(() => browser.close())
)

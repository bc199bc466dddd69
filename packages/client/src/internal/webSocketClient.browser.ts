/**
 * What a browser bundle gets for `webSocketClient.ts` (the package's `browser` field): Node's
 * sockets do not exist there, so `NodeTransport` fails to open, saying what to use instead.
 *
 * @internal
 */
import type * as WebSocketClient from "./webSocketClient.js"

export const CONNECTING = 0
export const OPEN = 1
export const CLOSING = 2
export const CLOSED = 3

export const connect = (
  _options: WebSocketClient.Options,
  handlers: WebSocketClient.Handlers
): WebSocketClient.WebSocketClient => {
  queueMicrotask(() =>
    handlers.onOpenFailed("NodeTransport needs Node's sockets; in a browser, use WebSocketTransport.layerGlobal")
  )
  return {
    readyState: CLOSED,
    send: () => {},
    close: () => {},
    terminate: () => {},
    pause: () => {},
    resume: () => {}
  }
}

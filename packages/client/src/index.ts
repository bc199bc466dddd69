/**
 * @since 0.1.0
 */

/**
 * @since 0.2.0
 */
export * as ConnectionState from "./ConnectionState.js"
/**
 * @since 0.2.0
 */
export * from "./Diagnostic.js"
/**
 * @since 0.1.0
 */
export * as GatewayClient from "./GatewayClient.js"
/**
 * @since 0.1.0
 */
export * from "./GatewayError.js"
/**
 * @since 0.1.0
 */
export * as NodeTransport from "./NodeTransport.js"
/**
 * @since 0.1.0
 */
export * as SessionState from "./SessionState.js"
export * as Transport from "./Transport.js"
/**
 * @since 0.1.0
 */
export * as WebSocketTransport from "./WebSocketTransport.js"
/**
 * @since 0.2.0
 */
export * as WorkspaceMirror from "./WorkspaceMirror.js"

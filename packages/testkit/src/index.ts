/**
 * @since 0.1.0
 */
export * as Agent from "./Agent.js"
/**
 * @since 0.1.0
 */
export * as Gateway from "./Gateway.js"
/**
 * @since 0.2.0
 */
export * as GatewayCommand from "./GatewayCommand.js"
/**
 * @since 0.1.0
 */
export * as InMemory from "./InMemory.js"
/**
 * @since 0.1.0
 */
export * as Workspace from "./Workspace.js"
/**
 * @since 0.1.0
 */
export * as WsServer from "./WsServer.js"

/**
 * @since 0.1.0
 */
export * as ClientMessage from "./ClientMessage.js"
/**
 * @since 0.2.0
 */
export * from "./CloseCode.js"
/**
 * @since 0.1.0
 */
export * as Codec from "./Codec.js"
/**
 * @since 0.1.0
 */
export * as Correlation from "./Correlation.js"
/**
 * @since 0.2.0
 */
export * as ErrorCode from "./ErrorCode.js"
/**
 * @since 0.1.0
 */
export * as JsonSchema from "./JsonSchema.js"
/**
 * @since 0.1.0
 */
export * as Primitives from "./Primitives.js"
/**
 * @since 0.1.0
 */
export * from "./ProtocolError.js"
/**
 * @since 0.2.0
 */
export * as Role from "./Role.js"
/**
 * @since 0.1.0
 */
export * as ServerEvent from "./ServerEvent.js"
/**
 * @since 0.1.0
 */
export * as Shapes from "./Shapes.js"

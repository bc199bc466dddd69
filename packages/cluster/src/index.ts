/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * from "./FollowerError.js"
/**
 * @since 0.1.0
 */
export * as FollowerRunner from "./FollowerRunner.js"
/**
 * @since 0.1.0
 */
export * as Housekeeping from "./Housekeeping.js"
/**
 * @since 0.1.0
 */
export * as OffsetStore from "./OffsetStore.js"
/**
 * @since 0.1.0
 */
export * as SessionFeed from "./SessionFeed.js"
/**
 * @since 0.1.0
 */
export * as SessionFollower from "./SessionFollower.js"
/**
 * @since 0.1.0
 */
export * as SessionWatcher from "./SessionWatcher.js"

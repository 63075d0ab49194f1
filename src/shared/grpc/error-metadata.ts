/** Trailing metadata key naming the dependency an UNAVAILABLE answer is about. */
export const DEPENDENCY_KEY = 'error-dependency';

/**
 * `DEPENDENCY_KEY` of a call this server ended because it is shutting down (a rollout, a scale
 * down): UNAVAILABLE to the client, which reconnects elsewhere, but expected, so it is logged
 * as an ordinary call and its span is not an error.
 */
export const SHUTDOWN_DEPENDENCY = 'server-shutdown';

/** Trailing metadata key carrying how long to wait before retrying, in milliseconds. */
export const RETRY_AFTER_KEY = 'retry-after-ms';

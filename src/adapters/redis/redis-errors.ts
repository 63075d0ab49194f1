/**
 * Which Redis errors mean "Redis failed" (count towards the breaker, answer `unavailable`)
 * rather than "Redis answered no" (WRONGTYPE, a Lua error), which is a bug to surface as is.
 */
const FAILURE_REPLY_PREFIXES = [
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'READONLY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'NOREPLICAS',
  'OOM',
];

export function isRedisFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') {
    return FAILURE_REPLY_PREFIXES.some((prefix) => error.message.startsWith(prefix));
  }
  // Programming errors are not outages.
  if (error instanceof TypeError || error instanceof RangeError) return false;
  // Connection closed, command timed out, stream not writeable, max retries per request, socket
  // errors: the client could not get an answer.
  return true;
}

/**
 * Which PostgreSQL errors mean "the database failed" (open the breaker, retry idempotent reads,
 * answer `unavailable`) rather than "the database answered no" (a constraint, a syntax error),
 * which the caller must see unchanged.
 */

/**
 * SQLSTATE classes that say the server or the connection is in trouble: 08 connection
 * exception, 53 insufficient resources (too many connections, out of memory), 57 operator
 * intervention (admin/crash shutdown, cannot connect now, statement timeout), 58 system error,
 * XX internal error.
 * Serialization failures and deadlocks (40001, 40P01) are deliberately absent: the server is
 * healthy, and replaying the transaction is the caller's decision.
 */
const FAILURE_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58', 'XX']);

/** Socket errors seen while connecting to or talking with the server. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Driver-side errors from node-postgres that carry no code. */
const DRIVER_FAILURE_MESSAGE =
  /connection terminated|timeout exceeded when trying to connect|not queryable|connection timeout|connection discarded/i;

const codeOf = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
};

/** A server-sent error (pg's DatabaseError) has a severity and a five-character SQLSTATE. */
export const sqlStateOf = (error: unknown): string | undefined => {
  const code = codeOf(error);
  const isServerError =
    typeof error === 'object' && error !== null && 'severity' in error && code?.length === 5;
  return isServerError ? code : undefined;
};

export function isPostgresFailure(error: unknown): boolean {
  const sqlState = sqlStateOf(error);
  if (sqlState !== undefined) return FAILURE_SQLSTATE_CLASSES.has(sqlState.slice(0, 2));
  const code = codeOf(error);
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return true;
  return error instanceof Error && DRIVER_FAILURE_MESSAGE.test(error.message);
}

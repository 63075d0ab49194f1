/**
 * The one error type the domain raises. Each transport maps `code` to its own status
 * (gRPC status, HTTP status) in exactly one place; `message` is shown to the caller, so it
 * says what was wrong and what is allowed.
 */
export type DomainErrorCode =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'unimplemented'
  | 'internal';

export interface DomainErrorOptions {
  /** The request field at fault, for `invalid_argument`. */
  readonly field?: string;
  /** How long the caller should wait before retrying, for `resource_exhausted`/`unavailable`. */
  readonly retryAfterMs?: number;
  /** The dependency that failed, for `unavailable`. */
  readonly dependency?: string;
  readonly cause?: unknown;
}

/**
 * Longest message an error carries. A message travels in a gRPC `grpc-message` header and in
 * log lines; one that quoted unbounded input could pass HTTP/2's header limit and wedge the
 * caller's connection.
 */
export const MAX_ERROR_MESSAGE = 512;

/** `message` cut to `max` characters, marked as cut. */
export function boundedMessage(message: string, max = MAX_ERROR_MESSAGE): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}

export class DomainError extends Error {
  override readonly name = 'DomainError';
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly dependency: string | undefined;

  constructor(
    readonly code: DomainErrorCode,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(
      boundedMessage(message),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
    this.dependency = options.dependency;
  }
}

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;

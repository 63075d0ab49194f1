import type { FastifyError } from 'fastify';
import { boundedMessage, isDomainError, type DomainErrorCode } from '../../domain/errors.js';

/** The one place a domain error code becomes an HTTP status. */
const DOMAIN_TO_HTTP: Record<DomainErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  unavailable: 503,
  deadline_exceeded: 504,
  unimplemented: 501,
  internal: 500,
};

export interface HttpErrorBody {
  readonly error: string;
  readonly message: string;
  readonly field?: string;
}

export interface HttpError {
  readonly statusCode: number;
  readonly body: HttpErrorBody;
  readonly retryAfterMs: number | undefined;
  /** Not raised on purpose: log it with its stack, show the caller nothing of it. */
  readonly unexpected: boolean;
}

export function toHttpError(error: unknown): HttpError {
  if (isDomainError(error)) {
    return {
      statusCode: DOMAIN_TO_HTTP[error.code],
      body: {
        error: error.code,
        message: error.message,
        ...(error.field === undefined ? {} : { field: error.field }),
      },
      retryAfterMs: error.retryAfterMs,
      unexpected: false,
    };
  }
  const fastifyError = error as Partial<FastifyError>;
  const statusCode = fastifyError.statusCode;
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    // Fastify's own client errors (bad JSON, body too large, ...) carry a readable message.
    return {
      statusCode,
      body: {
        error: fastifyError.code ?? 'bad_request',
        message: boundedMessage(fastifyError.message ?? 'bad request'),
      },
      retryAfterMs: undefined,
      unexpected: false,
    };
  }
  return {
    statusCode: 500,
    body: { error: 'internal', message: 'internal error' },
    retryAfterMs: undefined,
    unexpected: true,
  };
}

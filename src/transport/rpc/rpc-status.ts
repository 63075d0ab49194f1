import { Code, ConnectError } from '@connectrpc/connect';
import { boundedMessage, DomainError, isDomainError } from '../../domain/errors.js';
import {
  DEPENDENCY_KEY,
  RETRY_AFTER_KEY,
  SHUTDOWN_DEPENDENCY,
} from '../../shared/grpc/error-metadata.js';
import { STATUS_CODES } from './status-codes.js';

/**
 * What a caller is told when its call fails, whatever the transport: the code, a bounded
 * message, and the metadata naming the field at fault, the retry delay or the failed
 * dependency. grpc-js sends it as status and trailers, Connect as a ConnectError.
 */
export interface RpcErrorStatus {
  readonly code: Code;
  readonly message: string;
  readonly metadata: ReadonlyMap<string, string>;
  /** True when the error was not one we raised on purpose: log it with its stack. */
  readonly unexpected: boolean;
}

/** Metadata key naming the request field at fault of an INVALID_ARGUMENT answer. */
export const ERROR_FIELD_KEY = 'error-field';

/**
 * Turns anything a handler threw into a status. Domain and Connect errors keep their code and
 * (bounded) message; anything else becomes INTERNAL with a generic message, so internals never
 * leak to callers.
 */
export function toRpcStatus(error: unknown): RpcErrorStatus {
  if (isDomainError(error)) {
    const metadata = new Map<string, string>();
    if (error.retryAfterMs !== undefined) {
      metadata.set(RETRY_AFTER_KEY, String(Math.ceil(error.retryAfterMs)));
    }
    if (error.field !== undefined) metadata.set(ERROR_FIELD_KEY, error.field);
    if (error.dependency !== undefined) metadata.set(DEPENDENCY_KEY, error.dependency);
    return { code: STATUS_CODES[error.code], message: error.message, metadata, unexpected: false };
  }
  if (error instanceof ConnectError) {
    const metadata = new Map<string, string>();
    error.metadata.forEach((value, key) => metadata.set(key, value));
    return {
      code: error.code,
      message: boundedMessage(error.rawMessage),
      metadata,
      unexpected: false,
    };
  }
  return { code: Code.Internal, message: 'internal error', metadata: new Map(), unexpected: true };
}

/** A streaming call this server ended because it is shutting down: the client reconnects. */
export const SHUTTING_DOWN = new DomainError(
  'unavailable',
  'the server is shutting down; reconnect to continue',
  { retryAfterMs: 0, dependency: SHUTDOWN_DEPENDENCY },
);

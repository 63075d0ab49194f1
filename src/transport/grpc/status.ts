import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { ConnectError } from '@connectrpc/connect';
import { boundedMessage, isDomainError } from '../../domain/errors.js';
import { DEPENDENCY_KEY, RETRY_AFTER_KEY } from '../../shared/grpc/error-metadata.js';
import { STATUS_CODES } from '../rpc/status-codes.js';

export type GrpcErrorStatus = Pick<StatusObject, 'code' | 'details' | 'metadata'> & {
  /** True when the error was not one we raised on purpose: log it with its stack. */
  readonly unexpected: boolean;
};

/**
 * Turns anything a handler threw into a gRPC status. Domain and Connect errors keep their
 * code and message; anything else becomes INTERNAL with a generic message, so internals
 * never leak to callers.
 */
export function toGrpcStatus(error: unknown): GrpcErrorStatus {
  const metadata = new Metadata();
  if (isDomainError(error)) {
    if (error.retryAfterMs !== undefined) {
      metadata.set(RETRY_AFTER_KEY, String(Math.ceil(error.retryAfterMs)));
    }
    if (error.field !== undefined) metadata.set('error-field', error.field);
    if (error.dependency !== undefined) metadata.set(DEPENDENCY_KEY, error.dependency);
    return {
      // Connect's codes are numbered exactly like gRPC's (see STATUS_CODES).
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      code: STATUS_CODES[error.code] as number,
      details: error.message,
      metadata,
      unexpected: false,
    };
  }
  if (error instanceof ConnectError) {
    return {
      // Connect's codes are numbered exactly like gRPC's, so the value carries over as is.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      code: error.code as number,
      details: boundedMessage(error.rawMessage),
      metadata,
      unexpected: false,
    };
  }
  return { code: status.INTERNAL, details: 'internal error', metadata, unexpected: true };
}

import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { ConnectError } from '@connectrpc/connect';
import { boundedMessage, isDomainError } from '../../domain/errors.js';
import { STATUS_CODES } from '../rpc/status-codes.js';

/**
 * The names Prometheus dashboards expect in `grpc_code` (Go's codes.Code.String()),
 * indexed by status number.
 */
export const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export type GrpcCodeName = (typeof GRPC_CODE_NAMES)[number];

export const grpcCodeName = (code: number): GrpcCodeName => GRPC_CODE_NAMES[code] ?? 'Unknown';

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

import { Code } from '@connectrpc/connect';
import type { DomainErrorCode } from '../../domain/errors.js';

/**
 * The one place a domain error code becomes an RPC status code. Connect's codes are numbered
 * exactly like gRPC's, so the gRPC transport answers with these numbers too, and an order-entry
 * stream carries them in its per-command error responses.
 */
export const STATUS_CODES: Readonly<Record<DomainErrorCode, Code>> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

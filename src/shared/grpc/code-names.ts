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

import { Metadata, type StatusObject } from '@grpc/grpc-js';
import { toRpcStatus } from '../rpc/rpc-status.js';

export type GrpcErrorStatus = Pick<StatusObject, 'code' | 'details' | 'metadata'> & {
  /** True when the error was not one we raised on purpose: log it with its stack. */
  readonly unexpected: boolean;
};

/** Anything a handler threw as a grpc-js status (see toRpcStatus). */
export function toGrpcStatus(error: unknown): GrpcErrorStatus {
  const { code, message, metadata: entries, unexpected } = toRpcStatus(error);
  const metadata = new Metadata();
  for (const [key, value] of entries) metadata.set(key, value);
  // Connect's codes are numbered exactly like gRPC's (see STATUS_CODES).
  // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
  return { code: code as number, details: message, metadata, unexpected };
}

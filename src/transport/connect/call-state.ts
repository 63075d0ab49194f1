import { createContextKey } from '@connectrpc/connect';
import type { CallObservation, RpcTransport } from '../rpc/call-observer.js';

/**
 * What the pieces serving one Connect / gRPC-Web call share: the handler wrapper
 * (observed-handler.ts) starts the observation, the interceptor and the request-body guard
 * record the outcome, and the wrapper finishes it once the answer has been written.
 */
export interface CallState {
  readonly transport: RpcTransport;
  readonly observation: CallObservation;
  /** The status the call ended with, once known; unset while it runs. */
  outcome?: { readonly code: number; readonly details?: string; readonly planned?: boolean };
}

export const callStateKey = createContextKey<CallState | undefined>(undefined, {
  description: 'connect call state',
});

/** The protocol a request speaks, from its content type (as Connect's router negotiates it). */
export function transportOf(contentType: string | null): RpcTransport {
  if (contentType?.startsWith('application/grpc-web') === true) return 'grpc-web';
  if (contentType?.startsWith('application/grpc') === true) return 'grpc';
  return 'connect';
}

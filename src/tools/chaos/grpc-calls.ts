import type { DescService } from '@bufbuild/protobuf';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type Client,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { RETRY_AFTER_KEY } from '../../shared/grpc/error-metadata.js';
import { grpcServiceDefinition } from '../../shared/grpc/service-definition.js';

/**
 * Plain grpc-js clients over the generated descriptors: what a third-party caller would use.
 * The runner registers its users with these and `--traders-transport grpc` traders place
 * through them; the SDK's traders are in `sdk-orders.ts`.
 */
export const grpcClient = (address: string, service: DescService): Client => {
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(service), 'chaos');
  return new Ctor(address, credentials.createInsecure(), {
    // Reconnect fast after a kill: the default backoff reaches 120 s.
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1_000,
    // Spread calls over every address of an `ipv4:a,b` target, as a Service would.
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
};

/** What a failed call says, whichever client made it: its gRPC code, message and trailers. */
export type CallFailure = Pick<ServiceError, 'code' | 'details' | 'metadata'>;

export type CallResult<T, E extends CallFailure = ServiceError> =
  { readonly ok: true; readonly response: T } | { readonly ok: false; readonly error: E };

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: unknown) => void,
) => void;

export function unary<T>(
  client: Client,
  method: string,
  request: unknown,
  metadata: Metadata,
  timeoutMs: number,
): Promise<CallResult<T>> {
  const fn = (client as unknown as Record<string, UnaryMethod | undefined>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
      resolve(error === null ? { ok: true, response: response as T } : { ok: false, error });
    });
  });
}

export function serverStream<T>(
  client: Client,
  method: string,
  request: unknown,
  metadata: Metadata,
): ClientReadableStream<T> {
  const fn = (
    client as unknown as Record<
      string,
      ((request: unknown, metadata: Metadata) => ClientReadableStream<T>) | undefined
    >
  )[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return fn.call(client, request, metadata);
}

export const bearer = (token: string): Metadata => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

/**
 * A quota refusal: RESOURCE_EXHAUSTED without the `retry-after-ms` a rate limit sends, so
 * sending the same call again later lifts nothing (the open-order quota: cancel one first).
 */
export const isQuotaRefusal = (error: CallFailure): boolean =>
  error.code === status.RESOURCE_EXHAUSTED && error.metadata.get(RETRY_AFTER_KEY).length === 0;

/** Codes after which the same call (same client_order_id) may be sent again. */
export const RETRYABLE = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.CANCELLED,
  status.INTERNAL, // a connection reset mid-call surfaces as INTERNAL in grpc-js
  status.UNKNOWN,
]);

import type { DescService } from '@bufbuild/protobuf';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type Client,
  type ServiceError,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { service as healthDefinition } from 'grpc-health-check';
import { grpcServiceDefinition } from '../../src/transport/grpc/service-adapter.js';

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  callback: (error: ServiceError | null, response?: unknown) => void,
) => void;

/** A plain grpc-js client: the same stack a third-party caller would use. */
export const grpcClient = (address: string, service: DescService): Client =>
  clientFor(address, grpcServiceDefinition(service));

export const healthClient = (address: string): Client => clientFor(address, healthDefinition);

function clientFor(address: string, definition: ServiceDefinition): Client {
  const Ctor = makeGenericClientConstructor(definition, 'test');
  return new Ctor(address, credentials.createInsecure());
}

export interface UnaryResult<T> {
  readonly error: ServiceError | null;
  readonly response: T | undefined;
}

export function unary<T = Record<string, unknown>>(
  client: Client,
  method: string,
  request: unknown,
  metadata = new Metadata(),
): Promise<UnaryResult<T>> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    fn.call(client, request, metadata, (error, response) => {
      resolve({ error, response: response as T | undefined });
    });
  });
}

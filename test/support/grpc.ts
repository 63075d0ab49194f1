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
export function grpcClient(address: string, definition: ServiceDefinition | DescService): Client {
  const def = 'typeName' in definition ? grpcServiceDefinition(definition) : definition;
  const Ctor = makeGenericClientConstructor(def, 'test');
  return new Ctor(address, credentials.createInsecure());
}

export const healthClient = (address: string) => grpcClient(address, healthDefinition);

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

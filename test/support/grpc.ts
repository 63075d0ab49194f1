import { connect, type IncomingHttpHeaders } from 'node:http2';
import type { DescService } from '@bufbuild/protobuf';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ChannelCredentials,
  type Client,
  type ServiceError,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { service as healthDefinition } from 'grpc-health-check';
import { grpcServiceDefinition } from '../../src/shared/grpc/service-definition.js';

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  callback: (error: ServiceError | null, response?: unknown) => void,
) => void;

/** A plain grpc-js client: the same stack a third-party caller would use. */
export const grpcClient = (address: string, service: DescService): Client =>
  clientFor(address, grpcServiceDefinition(service));

export const healthClient = (
  address: string,
  channelCredentials: ChannelCredentials = credentials.createInsecure(),
): Client => clientFor(address, healthDefinition, channelCredentials);

function clientFor(
  address: string,
  definition: ServiceDefinition,
  channelCredentials: ChannelCredentials = credentials.createInsecure(),
): Client {
  const Ctor = makeGenericClientConstructor(definition, 'test');
  return new Ctor(address, channelCredentials);
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

export interface RawCallResult {
  /** `grpc-status`, from the trailers or a trailers-only answer. */
  readonly status: number;
  readonly message: string;
}

/**
 * A gRPC call made frame by frame with node:http2, for what a well-behaved client library
 * never sends: `messages` are written as length-prefixed gRPC messages (none at all, or
 * several on a unary method) after the request `headers`, then the stream ends.
 */
export function rawGrpcCall(
  address: string,
  path: string,
  messages: readonly Uint8Array[] = [],
  headers: Record<string, string> = {},
): Promise<RawCallResult> {
  const session = connect(`http://${address}`);
  return new Promise<RawCallResult>((resolve, reject) => {
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let status: IncomingHttpHeaders = {};
    const keep = (headers: IncomingHttpHeaders) => {
      if (headers['grpc-status'] !== undefined) status = headers;
    };
    stream.on('response', keep);
    stream.on('trailers', keep);
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => {
      const code = status['grpc-status'];
      if (typeof code !== 'string') {
        reject(new Error(`no grpc-status from ${path}`));
        return;
      }
      const message = status['grpc-message'];
      resolve({
        status: Number(code),
        message: decodeURIComponent(typeof message === 'string' ? message : ''),
      });
    });
    for (const message of messages) stream.write(grpcFrame(message));
    stream.end();
  }).finally(() => {
    session.close();
  });
}

/** One gRPC length-prefixed message: an uncompressed flag, a 4-byte length, the bytes. */
function grpcFrame(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.byteLength, 1);
  return Buffer.concat([header, message]);
}

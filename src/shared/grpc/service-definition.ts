import {
  create,
  fromBinary,
  toBinary,
  type DescMethod,
  type DescService,
} from '@bufbuild/protobuf';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { DomainError } from '../../domain/errors.js';
import { encodeOnce } from './shared-encoding.js';

/**
 * grpc-js service definitions built from the protobuf-es descriptors in src/gen, so a server
 * (src/transport) and its clients (src/adapters) encode every message with the same code.
 */

// The message types differ per method; grpc-js's untyped definitions carry them as unknown.
export type Message = Record<string, unknown>;

export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream:
        method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream:
        method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: (message: Message) =>
        Buffer.from(toBinary(method.input, create(method.input, message))),
      requestDeserialize: (bytes: Buffer) => decodeRequest(method, bytes),
      responseSerialize: (message: Message) =>
        encodeOnce(message, (m) => Buffer.from(toBinary(method.output, create(method.output, m)))),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.name,
    };
  }
  return definition;
}

/**
 * Bytes that are not a valid request message. grpc-js answers a throwing deserializer with
 * INTERNAL, which blames the server; decoding to this marker instead lets the handler answer
 * INVALID_ARGUMENT, after authentication like any other bad input.
 */
const MALFORMED = Symbol('malformed request');
export interface MalformedRequest {
  readonly [MALFORMED]: string;
}

function decodeRequest(method: DescMethod, bytes: Buffer): Message | MalformedRequest {
  try {
    return fromBinary(method.input, bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { [MALFORMED]: `request is not a valid ${method.input.typeName} message: ${reason}` };
  }
}

/** Throws INVALID_ARGUMENT for a request that did not decode (see MALFORMED). */
export function assertWellFormed(request: unknown): void {
  if (typeof request === 'object' && request !== null && MALFORMED in request) {
    throw new DomainError('invalid_argument', (request as MalformedRequest)[MALFORMED]);
  }
}

/** The go-grpc-prometheus labels of a call, shared by the server and client metrics. */

export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

export function grpcType(requestStream: boolean, responseStream: boolean): GrpcType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

/** The go-grpc-prometheus labels of a method: its type, service and name. */
export function methodLabels(method: {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}): { grpc_type: GrpcType; grpc_service: string; grpc_method: string } {
  const { service, method: name } = parsePath(method.path);
  return {
    grpc_type: grpcType(method.requestStream, method.responseStream),
    grpc_service: service,
    grpc_method: name,
  };
}

export function parsePath(path: string): { service: string; method: string } {
  const [, service = 'unknown', method = 'unknown'] = path.split('/');
  return { service, method };
}

import { createClient, type Client, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { WebSocket } from 'ws';
import {
  connectTransport,
  grpcWebTransport,
  websocketTransport,
  websocketUrl,
  type WebSocketLike,
} from '../../client/index.js';
import { MarketDataService } from '../../gen/trading/v1/market_data_pb.js';
import { SessionService } from '../../gen/trading/v1/session_pb.js';

/**
 * The transports a stream client can come in on (docs/protocol.md, "Transports"): native gRPC
 * on the gRPC port; gRPC-Web, Connect and the /ws WebSocket on the HTTP port. Each is the
 * `transport` label of `stream_connections`.
 */
export const STREAM_TRANSPORTS = ['grpc', 'grpc-web', 'connect', 'websocket'] as const;
export type StreamTransport = (typeof STREAM_TRANSPORTS)[number];

/** Where one stream pod listens. */
export interface StreamPod {
  /** `host:port` of its gRPC listener. */
  readonly grpc: string;
  /** `http://host:port` of its HTTP listener (gRPC-Web, Connect, /ws). */
  readonly http: string;
}

/** The two streaming services of one pod over one transport, and Pong on the same path. */
export interface StreamClients {
  readonly market: Client<typeof MarketDataService>;
  readonly session: Client<typeof SessionService>;
}

/** Node 20 has no global WebSocket: the SDK's transport runs on the `ws` package's. */
const openSocket = (url: string): WebSocketLike => new WebSocket(url) as unknown as WebSocketLike;

/**
 * Connect clients for a pod over the chosen transport, all binary protobuf: native gRPC over
 * HTTP/2 (connect-node, as a server-side client would call), and the browser SDK's own
 * transports (src/client): gRPC-Web and Connect over fetch, HTTP/1.1 as a browser behind a
 * plain proxy sends them, and the WebSocket. Over WebSocket, Pong travels in-band on the
 * socket of the session it names, so it must use these same clients as the stream.
 */
export function streamClients(kind: StreamTransport, pod: StreamPod): StreamClients {
  const transport = transportFor(kind, pod);
  return {
    market: createClient(MarketDataService, transport),
    session: createClient(SessionService, transport),
  };
}

function transportFor(kind: StreamTransport, pod: StreamPod): Transport {
  switch (kind) {
    case 'grpc':
      return createGrpcTransport({ baseUrl: `http://${pod.grpc}` });
    case 'grpc-web':
      return grpcWebTransport(pod.http).transport;
    case 'connect':
      return connectTransport(pod.http);
    case 'websocket':
      return websocketTransport(websocketUrl(pod.http), openSocket).transport;
  }
}

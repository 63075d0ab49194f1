import { createClient, type Client, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { WebSocket } from 'ws';
import { websocketTransport, websocketUrl, type WebSocketLike } from '../../client/index.js';
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
 * Connect clients for a pod over the chosen transport: native gRPC over HTTP/2, gRPC-Web and
 * Connect over HTTP/1.1 (as a browser behind a plain proxy sends them), all binary protobuf,
 * and the browser SDK's own WebSocket transport (src/client). Over WebSocket, Pong travels
 * in-band on the socket of the session it names, so it must use these same clients as the
 * stream.
 *
 * gRPC-Web and Connect use connect-node (node:http), not the SDK's fetch-based transports:
 * Node's fetch (undici 6) follows a request's AbortSignal through a weak reference, so once
 * the Request is garbage collected an abort no longer ends a long-lived response
 * (nodejs/undici#3644), and a stopped subscriber's stream went on for ever.
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
      return createGrpcWebTransport({
        baseUrl: pod.http,
        httpVersion: '1.1',
        useBinaryFormat: true,
      });
    case 'connect':
      return createConnectTransport({
        baseUrl: pod.http,
        httpVersion: '1.1',
        useBinaryFormat: true,
      });
    case 'websocket':
      return websocketTransport(websocketUrl(pod.http), openSocket).transport;
  }
}

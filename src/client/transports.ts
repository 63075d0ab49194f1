import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { abortableFetch } from './abortable-fetch.js';

/** How the client reaches the platform, best first: gRPC-Web, then WebSocket. */
export type TransportKind = 'grpc-web' | 'websocket';

export interface TransportOption {
  readonly kind: TransportKind;
  readonly transport: Transport;
}

/**
 * gRPC-Web over fetch to the HTTP port (binary protobuf, as the WebSocket frames are). Both
 * fetch transports use `abortableFetch`, so a stopped stream ends in Node as in a browser.
 */
export function grpcWebTransport(baseUrl: string): TransportOption {
  return {
    kind: 'grpc-web',
    transport: createGrpcWebTransport({ baseUrl, useBinaryFormat: true, fetch: abortableFetch }),
  };
}

/**
 * Connect's protocol over fetch: unary calls as plain HTTP POSTs of binary protobuf, and server
 * streams too.
 */
export function connectTransport(baseUrl: string): Transport {
  return createConnectTransport({ baseUrl, useBinaryFormat: true, fetch: abortableFetch });
}

export interface AuthorizingOptions {
  /** The transport in use now: the manager switches it on fallback. */
  readonly current: () => Transport;
  readonly accessToken: () => string | undefined;
  /** Called once when a call with a token is refused as UNAUTHENTICATED; true to retry it. */
  readonly refresh: () => Promise<boolean>;
}

function withToken(header: HeadersInit | undefined, token: string | undefined): Headers {
  const headers = new Headers(header);
  if (token !== undefined && !headers.has('authorization')) {
    headers.set('authorization', `Bearer ${token}`);
  }
  return headers;
}

/**
 * A Transport for the app's clients that sends each call over the manager's current
 * transport with the user's bearer token, and after an UNAUTHENTICATED answer (a token that
 * expired while the laptop slept) refreshes once and tries again.
 */
export function authorizingTransport(options: AuthorizingOptions): Transport {
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const token = options.accessToken();
      try {
        return await options
          .current()
          .unary(method, signal, timeoutMs, withToken(header, token), input, contextValues);
      } catch (error) {
        const refused = ConnectError.from(error).code === Code.Unauthenticated;
        if (!refused || token === undefined || !(await options.refresh())) throw error;
        return options
          .current()
          .unary(
            method,
            signal,
            timeoutMs,
            withToken(header, options.accessToken()),
            input,
            contextValues,
          );
      }
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const headers = withToken(header, options.accessToken());
      return options.current().stream(method, signal, timeoutMs, headers, input, contextValues);
    },
  };
}

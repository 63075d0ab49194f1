import type { Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ServerInterceptingCall, status, type Server, type ServerInterceptor } from '@grpc/grpc-js';

/**
 * A `grpc-timeout` that is not what the gRPC spec allows (1 to 8 digits and a unit of
 * H, M, S, m, u, n) is INVALID_ARGUMENT, as Connect answers it on the HTTP port. grpc-js 1.14
 * answers it INTERNAL, a code that blames the server, and does so from inside the call's
 * constructor, before any interceptor can act (docs/library-workarounds.md says when this can
 * go). So a listener that runs before grpc-js's own moves a malformed value aside into
 * `x-malformed-grpc-timeout` (one a client sends is dropped first), which grpc-js passes on as
 * metadata, and `timeoutInterceptor` refuses the call from there, observed and counted like
 * any other refusal.
 */

const SPEC_TIMEOUT = /^\d{1,8}[HMSmun]$/;

/** Installs the listener on the HTTP/2 servers of a bound grpc-js server. */
export function guardTimeoutHeaders(server: Server): void {
  // grpc-js keeps its HTTP/2 servers private and offers no hook before it reads headers.
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    throw new Error(
      'grpc-js keeps no http2Servers map: revisit src/transport/grpc/timeout-guard.ts',
    );
  }
  for (const http2Server of servers.keys() as IterableIterator<Http2Server>) {
    http2Server.prependListener('stream', setAsideMalformedTimeout);
  }
}

function setAsideMalformedTimeout(_stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  delete headers['x-malformed-grpc-timeout'];
  const header = headers['grpc-timeout'];
  if (header === undefined) return;
  const timeout = Array.isArray(header) ? header.join(', ') : header;
  if (SPEC_TIMEOUT.test(timeout)) return;
  delete headers['grpc-timeout'];
  headers['x-malformed-grpc-timeout'] = timeout;
}

/** Refuses a call whose `grpc-timeout` was set aside; list it after the observability one. */
export const timeoutInterceptor: ServerInterceptor = (_descriptor, call) => {
  const intercepting = new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, nextMetadata) {
          const [malformed] = metadata.get('x-malformed-grpc-timeout');
          if (malformed === undefined) {
            nextMetadata(metadata);
            return;
          }
          intercepting.sendStatus({
            code: status.INVALID_ARGUMENT,
            details: `grpc-timeout ${JSON.stringify(String(malformed).slice(0, 32))} is not 1 to 8 digits and a unit (H, M, S, m, u, n)`,
          });
        },
      });
    },
  });
  return intercepting;
};

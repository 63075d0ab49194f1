import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2Server, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * One listener for HTTP/1.1 and HTTP/2: browsers' gRPC-Web and Connect use either, and
 * Connect's Node clients and `buf curl` speak HTTP/2. With TLS, ALPN picks the version
 * (`allowHTTP1`). Without TLS there is no ALPN, and Node's cleartext HTTP/2 server cannot fall
 * back to HTTP/1.1, so each connection's first bytes choose: the HTTP/2 preface (prior
 * knowledge, as `curl --http2-prior-knowledge` and gRPC clients send) goes to an HTTP/2 server,
 * anything else to the HTTP/1.1 one. Both call the same request handler.
 */

export interface ServerLimits {
  /** The whole request (headers and body) must arrive within this (HTTP/1.1). */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this; an idle HTTP/2 session gets GOAWAY. */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 72_000,
};

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** Closes every HTTP/2 session gracefully (GOAWAY): Fastify calls it on close. */
interface ClosesSessions {
  closeHttp2Sessions(): void;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function dualProtocolServer(
  handler: Handler,
  limits: ServerLimits,
  tls: { readonly cert: Buffer; readonly key: Buffer } | undefined,
): http.Server {
  const sessions = new Set<Http2Session>();
  const track = (server: Http2Server | http2.Http2SecureServer) => {
    server.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      session.setTimeout(limits.idleTimeoutMs, () => {
        session.close();
      });
    });
  };
  const closeHttp2Sessions = () => {
    for (const session of sessions) session.close();
  };

  if (tls !== undefined) {
    const secure = http2.createSecureServer(
      { allowHTTP1: true, cert: tls.cert, key: tls.key },
      handler as never,
    );
    track(secure);
    return Object.assign(secure, { closeHttp2Sessions }) as unknown as http.Server;
  }

  const h1 = http.createServer(handler);
  h1.requestTimeout = limits.requestTimeoutMs;
  h1.headersTimeout = Math.min(limits.requestTimeoutMs, 60_000);
  h1.keepAliveTimeout = limits.idleTimeoutMs;
  const h2 = http2.createServer(handler as never);
  track(h2);
  const [h1Connection] = h1.listeners('connection') as ((socket: Socket) => void)[];
  if (h1Connection === undefined) throw new Error('node:http server has no connection listener');
  // Connections that have sent nothing yet belong to neither server, so neither would close
  // them: a browser's preconnect (or undici's spare connection after an aborted fetch) would
  // hold up close() until the client gave up or the request timeout passed.
  const undecided = new Set<Socket>();
  h1.removeAllListeners('connection');
  h1.on('connection', (socket: Socket) => {
    undecided.add(socket);
    socket.once('close', () => undecided.delete(socket));
    // The HTTP/1.1 server's own timeouts start only once it has the socket.
    socket.setTimeout(limits.requestTimeoutMs, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      undecided.delete(socket);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      const length = Math.min(first.length, PREFACE.length);
      if (first.subarray(0, length).equals(PREFACE.subarray(0, length))) {
        // The HTTP/2 session takes the buffered bytes itself, then reads the socket natively.
        h2.emit('connection', socket);
      } else {
        h1Connection.call(h1, socket);
        socket.resume();
      }
    });
  });
  h1.once('close', closeHttp2Sessions);
  // Called by Fastify and by close(): a connection with no request yet is idle too.
  const closeH1IdleConnections = h1.closeIdleConnections.bind(h1);
  const closeIdleConnections = () => {
    for (const socket of undecided) socket.destroy();
    closeH1IdleConnections();
  };
  const server: http.Server & ClosesSessions = Object.assign(h1, {
    closeHttp2Sessions,
    closeIdleConnections,
  });
  return server;
}

import fastifyWebsocket, { type WebsocketPluginOptions } from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { bearerToken } from '../../domain/auth/access-tokens.js';
import { isDomainError } from '../../domain/errors.js';
import { CLOSE_CODES, closeReasonText } from './close-codes.js';
import { upgradeTraceContext } from './frame-tracing.js';
import { FrameWire } from './frame-wire.js';
import { framingErrorReasons } from './framing-error-close.js';
import { WebSocketConnection, type ConnectionDeps } from './websocket-connection.js';
import type { WebSocketConnections } from './websocket-connections.js';

export interface WebSocketOptions extends ConnectionDeps {
  /** Largest frame a client may send; ws closes the connection (1009) on a larger one. */
  readonly maxPayloadBytes: number;
  /** The connections of this process, shared with whatever drains or heartbeats them. */
  readonly connections: WebSocketConnections;
}

export const WEBSOCKET_PATH = '/ws';

type WebSocketClass = NonNullable<NonNullable<WebsocketPluginOptions['options']>['WebSocket']>;

/**
 * `/ws`: the stream protocol over WebSocket, binary protobuf frames (docs/protocol.md). The
 * `Authorization` header of the upgrade is optional: market data is public, and a browser,
 * which cannot set it, sends an authenticate frame instead. Likewise `traceparent`: on the
 * upgrade, or in each subscribe and open_stream frame.
 */
export async function registerWebSocket(
  app: FastifyInstance,
  options: WebSocketOptions,
): Promise<void> {
  const { connections, logger, metrics } = options;
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: options.maxPayloadBytes,
      // Frames are written under ws (frame-wire.ts), which holds only while ws compresses nothing.
      perMessageDeflate: false,
      // @fastify/websocket is typed against ws's CommonJS declarations and this code against
      // its ESM ones: two types for the one class.
      WebSocket: framingErrorReasons(options.maxPayloadBytes) as unknown as WebSocketClass,
    },
    // ws closes the connection itself on a protocol error (with a reason, see
    // framing-error-close.ts); the connection records why.
    errorHandler: () => undefined,
    // On shutdown: every client is told to go elsewhere; nobody waits for slow handshakes.
    preClose(done) {
      connections.closeAll('going_away', 'server shutting down: reconnect and resume');
      done();
    },
  });
  app.get(WEBSOCKET_PATH, { websocket: true }, (socket, request) => {
    const ip = request.ip;
    if (!connections.admits(ip)) {
      metrics.closed.inc({ reason: 'too_many_connections' });
      logger.warn(
        { client_ip: ip, max: connections.maxPerIp },
        'websocket refused: too many connections',
      );
      socket.close(
        CLOSE_CODES.too_many_connections,
        closeReasonText(`more than ${connections.maxPerIp} connections from one address`),
      );
      return;
    }
    let bearer: string | undefined;
    const header = request.headers.authorization;
    if (header !== undefined) {
      try {
        bearer = bearerToken(header);
      } catch (error) {
        if (!isDomainError(error)) throw error;
        socket.close(CLOSE_CODES.unauthenticated, closeReasonText(error.message));
        metrics.closed.inc({ reason: 'unauthenticated' });
        return;
      }
    }
    const connection = new WebSocketConnection(socket, FrameWire.of(socket), ip, options);
    connections.add(connection);
    socket.on('close', () => {
      connections.delete(connection);
    });
    connection.start(bearer, upgradeTraceContext(request.headers));
  });
}

import type { ServiceImpl } from '@connectrpc/connect';
import { DomainError } from '../../domain/errors.js';
import type { StreamGateway } from '../../domain/streams/stream-gateway.js';
import { userStream } from '../../domain/streams/stream-names.js';
import type { SessionService } from '../../gen/trading/v1/session_pb.js';
import { requirePrincipal } from './call-context.js';
import { privateMessage } from './stream-messages.js';
import { positionsOf } from './stream-positions.js';

/**
 * `trading.v1.SessionService`: `OpenStream`, the caller's own execution reports (and balances
 * at the start), resumable like market data; `Pong`, the answer to a heartbeat of any stream
 * of the session. Reauthenticate belongs to the long-stream-auth work.
 */
export function sessionRpc(gateway: StreamGateway): Partial<ServiceImpl<typeof SessionService>> {
  return {
    async *openStream(request, context) {
      const userId = Number(requirePrincipal(context).userId);
      const opened = await gateway.open({
        streams: [userStream(userId)],
        positions: positionsOf(request.positions),
        sessionId: request.sessionId,
        userId,
        transport: context.protocolName,
        signal: context.signal,
      });
      for await (const delivery of opened.messages) yield privateMessage(delivery, opened);
    },

    /**
     * Public, like Subscribe: the session id is unguessable and a pong only feeds RTT figures.
     * It must reach the pod holding the stream (the same HTTP/2 connection); elsewhere it is
     * refused rather than routed, so a client learns that its pongs go astray.
     */
    pong(request) {
      const outcome = gateway.pong(request.sessionId, Number(request.heartbeatId));
      if (outcome === 'unknown_session') {
        throw new DomainError(
          'failed_precondition',
          `session ${request.sessionId} has no stream on this pod; send Pong over the connection that carries the stream`,
        );
      }
      return {};
    },
  };
}

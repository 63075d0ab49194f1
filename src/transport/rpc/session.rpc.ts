import type { ServiceImpl } from '@connectrpc/connect';
import type { SessionService } from '../../gen/trading/v1/session_pb.js';
import { requirePrincipal } from './call-context.js';
import type { StreamCalls } from './stream-calls.js';

/**
 * `trading.v1.SessionService`: `OpenStream`, the caller's own execution reports (and balances
 * at the start), resumable like market data; `Pong`, the answer to a heartbeat of any stream
 * of the session. Reauthenticate belongs to the long-stream-auth work.
 */
export function sessionRpc(calls: StreamCalls): Partial<ServiceImpl<typeof SessionService>> {
  return {
    async *openStream(request, context) {
      const userId = Number(requirePrincipal(context).userId);
      const opened = await calls.openPrivate(request, userId, {
        transport: context.protocolName,
        signal: context.signal,
      });
      yield* opened.messages;
    },

    /**
     * Public, like Subscribe: the session id is unguessable and a pong only feeds RTT figures.
     * It must reach the pod holding the stream (the same HTTP/2 connection); elsewhere it is
     * refused rather than routed, so a client learns that its pongs go astray.
     */
    pong(request) {
      calls.pong(request.sessionId, Number(request.heartbeatId));
      return {};
    },
  };
}

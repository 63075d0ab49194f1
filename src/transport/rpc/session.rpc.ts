import type { ServiceImpl } from '@connectrpc/connect';
import type { StreamGateway } from '../../domain/streams/stream-gateway.js';
import { userStream } from '../../domain/streams/stream-names.js';
import type { SessionService } from '../../gen/trading/v1/session_pb.js';
import { requirePrincipal } from './call-context.js';
import { privateMessage } from './stream-messages.js';
import { positionsOf } from './stream-positions.js';

/**
 * `trading.v1.SessionService.OpenStream`: the caller's own execution reports (and balances
 * at the start), resumable like market data. Pong and Reauthenticate belong to the
 * connection-quality and long-stream-auth work and still answer UNIMPLEMENTED.
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
  };
}

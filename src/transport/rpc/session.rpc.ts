import type { ServiceImpl } from '@connectrpc/connect';
import type { SessionService } from '../../gen/trading/v1/session_pb.js';
import { requirePrincipal } from './call-context.js';
import type { StreamCalls } from './stream-calls.js';

/**
 * `trading.v1.SessionService.OpenStream`: the caller's own execution reports (and balances
 * at the start), resumable like market data. Pong and Reauthenticate belong to the
 * connection-quality and long-stream-auth work and still answer UNIMPLEMENTED.
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
  };
}

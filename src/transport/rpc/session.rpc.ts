import type { ServiceImpl } from '@connectrpc/connect';
import { SESSION_REVOKED } from '../../domain/auth/auth.service.js';
import { DomainError } from '../../domain/errors.js';
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
export function sessionRpc(
  gateway: StreamGateway,
  revocations?: RevocationWatch,
): Partial<ServiceImpl<typeof SessionService>> {
  return {
    async *openStream(request, context) {
      const principal = requirePrincipal(context);
      const userId = Number(principal.userId);
      // A logout or a revoked session ends the stream, on whichever pod it is open.
      const revoked = new AbortController();
      const unwatch =
        revocations?.watchRevocation(principal.sessionId, () => {
          revoked.abort(new Error('session revoked'));
        }) ?? (() => undefined);
      try {
        const opened = await gateway.open({
          streams: [userStream(userId)],
          positions: positionsOf(request.positions),
          sessionId: request.sessionId,
          userId,
          transport: context.protocolName,
          signal: AbortSignal.any([context.signal, revoked.signal]),
        });
        for await (const delivery of opened.messages) {
          if (revoked.signal.aborted) break;
          yield privateMessage(delivery, opened);
        }
      } finally {
        unwatch();
      }
      if (revoked.signal.aborted) throw new DomainError('unauthenticated', SESSION_REVOKED);
    },
  };
}

/** Tells when an auth session is revoked (AuthService). */
export interface RevocationWatch {
  watchRevocation(sessionId: string, onRevoked: () => void): () => void;
}

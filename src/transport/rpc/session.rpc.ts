import type { ServiceImpl } from '@connectrpc/connect';
import { bearerToken, type VerifiedToken } from '../../domain/auth/access-tokens.js';
import { DomainError } from '../../domain/errors.js';
import type { StreamGateway } from '../../domain/streams/stream-gateway.js';
import { parseRequest, text } from '../../domain/validation.js';
import { z } from 'zod';
import type { SessionService } from '../../gen/trading/v1/session_pb.js';
import { requirePrincipal } from './call-context.js';
import type { StreamCalls } from './stream-calls.js';

const reauthenticateRequest = z.object({
  sessionId: text(64, { required: true }),
  accessToken: text(4_096, { required: true }),
});

export interface SessionRpcDeps {
  /** The stream protocol core, shared with the WebSocket transport. */
  readonly calls: StreamCalls;
  readonly gateway: StreamGateway;
  /** Verifies an access token and says when it expires. */
  readonly verifyToken: (token: string) => Promise<VerifiedToken>;
}

/**
 * `trading.v1.SessionService`: `OpenStream`, the caller's own execution reports (and balances
 * at the start), resumable like market data, until its access token expires unless a fresh one
 * is handed in with `Reauthenticate` (the unary form, for transports without client streaming);
 * `Pong`, the answer to a heartbeat of any stream of the session.
 */
export function sessionRpc(deps: SessionRpcDeps): Partial<ServiceImpl<typeof SessionService>> {
  const { calls, gateway } = deps;
  return {
    async *openStream(request, context) {
      const principal = requirePrincipal(context);
      // The call was authenticated with this header; its expiry bounds the stream.
      const token = await deps.verifyToken(bearerToken(context.requestHeader.get('authorization')));
      const opened = await calls.openPrivate(
        request,
        {
          userId: Number(principal.userId),
          authSessionId: principal.sessionId,
          tokenExpiresAtMs: token.expiresAtMs,
        },
        { transport: context.protocolName, signal: context.signal },
      );
      yield* opened.messages;
    },

    async reauthenticate(request, context) {
      const caller = requirePrincipal(context);
      const { sessionId, accessToken } = parseRequest(reauthenticateRequest, request);
      const fresh = await deps.verifyToken(accessToken);
      if (fresh.principal.userId !== caller.userId) {
        throw new DomainError(
          'permission_denied',
          "access_token belongs to another user than the caller; a token renews only its own user's session",
        );
      }
      await gateway.reauthenticate(sessionId, fresh);
      return {};
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

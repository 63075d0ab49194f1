import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { Authentication, IssuedTokens } from '../../domain/auth/authentication.js';
import type { AuthService } from '../../gen/trading/v1/auth_pb.js';
import { clientIpKey } from './call-context.js';

const tokenPair = (tokens: IssuedTokens) => ({
  accessToken: tokens.accessToken,
  accessTokenExpiresAt: timestampFromDate(tokens.accessTokenExpiresAt),
  refreshToken: tokens.refreshToken,
  refreshTokenExpiresAt: timestampFromDate(tokens.refreshTokenExpiresAt),
});

/** `trading.v1.AuthService` on the auth use cases; served by every transport. */
export function authRpc(auth: Authentication): ServiceImpl<typeof AuthService> {
  return {
    register: (request, context) =>
      auth.register(
        { username: request.username, password: request.password },
        { ip: context.values.get(clientIpKey) },
      ),
    async login(request, context) {
      const { userId, tokens } = await auth.login(
        { username: request.username, password: request.password },
        { ip: context.values.get(clientIpKey) },
      );
      return { userId, tokens: tokenPair(tokens) };
    },
    async refresh(request, context) {
      const tokens = await auth.refresh(
        { refreshToken: request.refreshToken },
        { ip: context.values.get(clientIpKey) },
      );
      return { tokens: tokenPair(tokens) };
    },
    async logout(request, context) {
      await auth.logout(
        { refreshToken: request.refreshToken },
        { ip: context.values.get(clientIpKey) },
      );
      return {};
    },
  };
}

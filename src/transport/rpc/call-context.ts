import type { DescMethod } from '@bufbuild/protobuf';
import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import type { Principal } from '../../domain/auth/access-tokens.js';
import { DomainError } from '../../domain/errors.js';

/**
 * What every transport puts into a handler's context before the handler runs, so handlers
 * never look at transport details.
 */

/** The authenticated caller; undefined on public methods. */
export const principalKey = createContextKey<Principal | undefined>(undefined, {
  description: 'authenticated principal',
});

/** The caller's network address (without port), for per-IP limits. */
export const clientIpKey = createContextKey<string>('unknown', { description: 'client IP' });

/**
 * Charges one command of a stream against the caller's per-user rate limit, as a call of
 * `method` would be charged; throws `resource_exhausted` when over. A call is charged by the
 * transport before its handler runs; a stream carrying many commands charges each one here.
 */
export const chargeCommandKey = createContextKey<(method: DescMethod) => Promise<void>>(
  () => Promise.resolve(),
  { description: 'per-command rate limit' },
);

export function requirePrincipal(context: HandlerContext): Principal {
  const principal = context.values.get(principalKey);
  if (principal === undefined) {
    throw new DomainError('unauthenticated', 'this call needs an access token');
  }
  return principal;
}

/**
 * Methods callable without an access token: the ones that hand tokens out or take them back,
 * and public market data (as on every exchange). Each that does work for its caller is
 * limited per client address instead (Register, Login, Refresh and Logout, GetOrderBook,
 * Subscribe); Pong only feeds the heartbeat figures of a stream already open.
 */
export const PUBLIC_METHODS: ReadonlySet<string> = new Set([
  'trading.v1.AuthService/Register',
  'trading.v1.AuthService/Login',
  'trading.v1.AuthService/Refresh',
  'trading.v1.AuthService/Logout',
  'trading.v1.MarketDataService/GetOrderBook',
  'trading.v1.MarketDataService/Subscribe',
  // Answers heartbeats of public streams too; the session id names the connection.
  'trading.v1.SessionService/Pong',
]);

/**
 * Methods other services of the platform call, not users: no bearer token. They are guarded
 * by the transport instead (mTLS when TLS is configured, and a NetworkPolicy in Kubernetes
 * letting only api pods reach the engine's port).
 */
export const INTERNAL_METHODS: ReadonlySet<string> = new Set([
  'trading.internal.v1.EngineService/Submit',
]);

/** "ipv4:1.2.3.4:5678" / "ipv6:[::1]:5678" (grpc-js peers) → the address alone. */
export function peerAddress(peer: string): string {
  const withoutScheme = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]/.exec(withoutScheme);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const lastColon = withoutScheme.lastIndexOf(':');
  return lastColon > 0 ? withoutScheme.slice(0, lastColon) : withoutScheme;
}

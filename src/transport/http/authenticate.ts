import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken, type Principal } from '../../domain/auth/access-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on routes declared with `config: { auth: true }`. */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Require `authorization: Bearer <access token>` on this route (and WebSocket upgrades). */
    auth?: boolean;
  }
}

/**
 * The HTTP (and WebSocket upgrade) counterpart of the gRPC authentication: the same token
 * check, answering 401 with the same messages through the shared error mapping.
 */
export function registerAuthentication(
  app: FastifyInstance,
  authenticate: (accessToken: string) => Promise<Principal>,
): void {
  app.decorateRequest('principal', undefined);
  const check = async (request: FastifyRequest) => {
    const principal = await authenticate(bearerToken(request.headers.authorization));
    request.principal = principal;
    request.log = request.log.child({ user_id: principal.userId });
  };
  // Added to the routes that ask for it only, so public routes (probes) pay nothing.
  app.addHook('onRoute', (route) => {
    if (route.config?.auth !== true) return;
    const existing = route.preHandler ?? [];
    route.preHandler = [...(Array.isArray(existing) ? existing : [existing]), check];
  });
}

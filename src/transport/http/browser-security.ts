import { cors as connectCors } from '@connectrpc/connect';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * What browsers may do across origins, strict by default: only the listed origins (exact
 * scheme, host and port) get CORS answers for Connect/gRPC-Web, with the headers those
 * protocols need, and only they (or the page's own origin) may open a WebSocket, which CORS
 * does not cover. Tokens travel in the authorization header, never cookies, so no credentials
 * mode. Security headers (helmet: CSP, HSTS, nosniff, frame denial) on every answer.
 */
export async function registerBrowserSecurity(
  app: FastifyInstance,
  allowedOrigins: readonly string[],
): Promise<void> {
  const allowed = new Set(allowedOrigins);
  await app.register(fastifyCors, {
    origin: (origin, callback) => {
      callback(null, origin !== undefined && allowed.has(origin));
    },
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, 'Authorization'],
    exposedHeaders: [...connectCors.exposedHeaders, 'Retry-After'],
    credentials: false,
    // Browsers cap it (Chromium at 2 hours); it saves a preflight per call.
    maxAge: 7_200,
  });
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: { 'connect-src': ["'self'", ...allowedOrigins] },
    },
  });
  // A WebSocket from a page of a foreign origin would otherwise ride on the user's network
  // position; no Origin header means a non-browser client, which CORS never concerned.
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.upgrade?.toLowerCase() !== 'websocket') return;
    const { origin } = request.headers;
    if (origin === undefined || allowed.has(origin) || sameOrigin(request, origin)) return;
    await reply.code(403).send({
      error: 'forbidden_origin',
      message: `WebSocket connections from ${origin} are not allowed: add it to CORS_ORIGINS`,
    });
  });
}

function sameOrigin(request: FastifyRequest, origin: string): boolean {
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

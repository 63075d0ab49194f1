import type { IncomingMessage, ServerResponse } from 'node:http';
import { cors as connectCors } from '@connectrpc/connect';
import fastifyCors from '@fastify/cors';
import helmet from 'helmet';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';

/**
 * What browsers may do across origins, strict by default: only the listed origins (exact
 * scheme, host and port) get CORS answers for Connect/gRPC-Web, with the headers those
 * protocols need, and only they (or the page's own origin) may open a WebSocket, which CORS
 * does not cover. Tokens travel in the authorization header, never cookies, so no credentials
 * mode. Security headers (helmet: CSP, HSTS, nosniff, frame denial) on every answer.
 *
 * Registered on the context holding everything a browser may load or call (the web app, the
 * API, Connect, /ws, the JSON 404); probes and scrapes live outside it.
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

  const headers = securityHeaders({ 'connect-src': ["'self'", ...allowedOrigins] });
  // On the raw response: Connect and gRPC-Web answers are written there, not through Fastify.
  app.addHook('onRequest', (_request, reply, done) => {
    const response = reply.raw;
    for (const [name, value] of headers) response.setHeader(name, value);
    done();
  });

  // A WebSocket from a page of a foreign origin would otherwise ride on the user's network
  // position; no Origin header means a non-browser client, which CORS never concerned.
  const checkWebSocketOrigin: onRequestHookHandler = (request, reply, done) => {
    const { origin, upgrade } = request.headers;
    if (
      upgrade?.toLowerCase() !== 'websocket' ||
      origin === undefined ||
      allowed.has(origin) ||
      sameOrigin(request, origin)
    ) {
      done();
      return;
    }
    void reply.code(403).send({
      error: 'forbidden_origin',
      message: `WebSocket connections from ${origin} are not allowed: add it to CORS_ORIGINS`,
    });
  };
  // Only routes that accept a WebSocket can be upgraded: other requests skip the check.
  app.addHook('onRoute', (route) => {
    if (route.websocket !== true) return;
    const existing = route.onRequest ?? [];
    route.onRequest = [...(Array.isArray(existing) ? existing : [existing]), checkWebSocketOrigin];
  });
}

/**
 * The headers helmet sets with these CSP directives (on top of its defaults), read once by
 * running its middleware against a recorder: helmet stays the source of every value, and no
 * request rebuilds it (@fastify/helmet called `helmet(options)` for each). String directives
 * only, so no value depends on the request.
 */
export function securityHeaders(
  directives: Readonly<Record<string, readonly string[]>>,
): readonly (readonly [string, string])[] {
  const set: [string, string][] = [];
  const recorder = {
    setHeader(name: string, value: string) {
      set.push([name.toLowerCase(), value]);
    },
    // X-Powered-By: Fastify never sets it, so there is nothing to remove per request.
    removeHeader: () => undefined,
  };
  // The middleware reads nothing of the request when every directive is a string.
  const request: unknown = {};
  const middleware = helmet({
    contentSecurityPolicy: {
      directives: Object.fromEntries(Object.entries(directives).map(([k, v]) => [k, [...v]])),
    },
  });
  middleware(
    request as IncomingMessage,
    recorder as unknown as ServerResponse,
    (error?: unknown) => {
      if (error instanceof Error) throw error;
      if (error !== undefined && error !== null) throw new Error('helmet refused its options');
    },
  );
  return set;
}

function sameOrigin(request: FastifyRequest, origin: string): boolean {
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

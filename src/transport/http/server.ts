import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import { Server as TlsServer } from 'node:tls';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import {
  fastify,
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestHookHandler,
  type onSendHookHandler,
} from 'fastify';
import type { Readiness } from '../../lifecycle/readiness.js';
import type { ScrapeWatch } from '../../lifecycle/scrape-watch.js';
import {
  histogram,
  LATENCY_BUCKETS,
  OPERATIONAL_ROUTES,
  type Logger,
  type Registry,
} from '../../telemetry/index.js';
import type { Principal } from '../../domain/auth/access-tokens.js';
import { boundedMessage } from '../../domain/errors.js';
import type { CertificateFiles } from '../../shared/tls/certificate-files.js';
import { registerConnectRoutes, type ConnectRoutesOptions } from '../connect/connect-routes.js';
import { registerAuthentication } from './authenticate.js';
import { registerBrowserSecurity } from './browser-security.js';
import {
  DEFAULT_SERVER_LIMITS,
  dualProtocolServer,
  type ServerLimits,
} from './dual-protocol-server.js';
import { toHttpError } from './errors.js';
import { registerWebSocket, type WebSocketOptions } from '../websocket/websocket-route.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  /** Told of each `/metrics` answer, so a process going away can wait for a last scrape. */
  readonly scrapes?: ScrapeWatch;
  /** HTTPS (and wss) when set, with the certificate replaced when the files rotate. */
  readonly tls: CertificateFiles | undefined;
  /** Verifies access tokens for routes declared with `config: { auth: true }`. */
  readonly authenticate?: (accessToken: string) => Promise<Principal>;
  /** Browser origins allowed across origins (CORS, WebSocket); none by default. */
  readonly corsOrigins?: readonly string[];
  /**
   * Adds a request span per business route (@fastify/otel), the parent of its RPC span, and a
   * span per route hook.
   */
  readonly tracing: boolean;
  /** The built web app to serve at `/`, if it holds an index.html. */
  readonly webAssetsDir?: string;
  /** Unset: DEFAULT_SERVER_LIMITS. */
  readonly limits?: ServerLimits;
  /** The RPC services, over Connect, gRPC-Web and gRPC (connect-routes.ts). */
  readonly rpc?: Pick<ConnectRoutesOptions, 'registrations' | 'limitCall' | 'readMaxBytes'>;
  /** Serves the stream protocol at `/ws` (stream and all roles). */
  readonly websocket?: WebSocketOptions;
  /**
   * Peers whose `X-Forwarded-For` names the client: `request.ip` (per-address limits, Connect
   * and /ws alike) is then its rightmost untrusted hop. None unset: the peer is the client.
   */
  readonly trustedProxies?: readonly string[];
}

export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const { logger } = options;
  const app = fastify({
    // Fastify gets no logger instance: with one it also attaches two response listeners and
    // validates a child logger on every request (docs/benchmarks.md, "HTTP server overhead").
    // Every request still logs through the app's pino logger (`request.log`, no per-request
    // child: correlation is by trace_id/span_id on every line inside a span, and the request
    // line carries the request id), and the request line is written below with the route
    // template.
    logger: false,
    childLoggerFactory: () => logger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy:
      options.trustedProxies === undefined || options.trustedProxies.length === 0
        ? false
        : [...options.trustedProxies],
    serverFactory: (handler) =>
      dualProtocolServer(handler, options.limits ?? DEFAULT_SERVER_LIMITS, options.tls?.current()),
  }) as unknown as FastifyInstance;

  if (options.tls !== undefined) reloadCertificates(app, options.tls);

  const recorder = requestRecorder(options.registry, logger);
  // Each route gets its own hook, bound to its template (`/orders/:id`, never the raw URL:
  // labels must stay bounded), so a request looks nothing up to be measured. `onSend` rather
  // than `onResponse`: the latter needs listeners on every response for no gain here.
  app.addHook('onRoute', (route) => {
    const record = recorder(route.url);
    const onSend: onSendHookHandler = (request, reply, payload, done) => {
      record(request, reply);
      done(null, payload);
    };
    route.onSend = [...hookList(route.onSend), onSend];
  });

  app.setErrorHandler((error, request, reply) => {
    const { statusCode, body, retryAfterMs, unexpected } = toHttpError(error);
    if (unexpected) request.log.error({ err: error }, 'http handler failed unexpectedly');
    if (retryAfterMs !== undefined)
      void reply.header('retry-after', Math.ceil(retryAfterMs / 1000));
    return reply.code(statusCode).send(body);
  });

  // Liveness: answering at all proves the event loop turns. Dependencies belong in /readyz,
  // or a database outage would restart every pod.
  app.get('/healthz', probe, () => ({ status: 'ok' }));

  app.get('/readyz', probe, async (_request, reply) => {
    const report = await options.readiness.evaluate();
    const problems = (critical: boolean) =>
      Object.entries(report.checks)
        .filter(([, result]) => !result.ok && result.critical === critical)
        .map(([name, result]) => ({ name, detail: result.detail }));
    const failing = problems(true);
    if (report.draining) {
      failing.unshift({ name: 'draining', detail: 'the process is shutting down' });
    }
    return reply.code(report.ready ? 200 : 503).send({
      status: report.ready ? 'ready' : 'not_ready',
      failing,
      // Shared dependencies that are down: reported here, but they do not fail readiness.
      degraded: problems(false),
      checks: report.checks,
    });
  });

  app.get('/metrics', probe, async (_request, reply) => {
    // Counted once the answer is written out: a scrape cut short read nothing.
    const answered = options.scrapes?.begin();
    if (answered !== undefined) reply.raw.once('finish', answered);
    const text = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(text);
  });

  // Everything a browser may load or call: security headers, CORS and the WebSocket origin
  // check apply here. Probes and scrapes stay outside: kubelets and Prometheus read them, no
  // browser renders them, and their answers reflect nothing of the request.
  await app.register(async (browser) => {
    await registerBrowserSecurity(browser, options.corsOrigins ?? []);
    const recordUnmatched = recorder('unmatched');
    browser.setNotFoundHandler((request, reply) => {
      void reply.code(404);
      // Not a route, so no route hook: measured here, as the answer is handed over.
      recordUnmatched(request, reply);
      return reply.send({
        error: 'not_found',
        message: boundedMessage(`no route for ${request.method} ${request.url}`),
      });
    });

    // Business routes live in their own encapsulated context: @fastify/otel's hooks (and the
    // authentication hook) apply there only, so probes and scrapes pay nothing for them
    // (docs/benchmarks.md, "HTTP server overhead").
    await browser.register(async (api) => {
      if (options.tracing) {
        // Added before the plugin, which would otherwise trace this hook too.
        api.addHook('onRequest', endRequestSpanIfAbandoned);
        await api.register(
          new FastifyOtelInstrumentation({
            registerOnInitialization: false,
            // A handler span would sit between the request span and the RPC span of every
            // Connect call, telling nothing they do not: the request span holds the call directly.
            instrumentHandler: false,
          }).plugin(),
        );
      }
      if (options.authenticate !== undefined) {
        registerAuthentication(api, options.authenticate);
        // Who am I: lets a browser check its token, and shows the hook at work.
        api.get('/v1/session', { config: { auth: true } }, (request) => ({
          user_id: request.principal?.userId,
          session_id: request.principal?.sessionId,
        }));
      }
      if (options.rpc !== undefined) {
        await registerConnectRoutes(api, {
          ...options.rpc,
          logger,
          registry: options.registry,
          ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
        });
      }
    });

    // Outside the traced context: one upgrade, then frames a request span would not describe.
    if (options.websocket !== undefined) await registerWebSocket(browser, options.websocket);
    await serveWebApp(browser, options);
  });
  return app;
}

/**
 * A WebSocket upgrade of a probe's path: @fastify/websocket (in the browser context) would
 * close the socket after the answer, but probes are outside that context, and an upgraded
 * socket has no timeout and no HTTP parser: drop it rather than leave it open.
 */
const refuseUpgrade: onRequestHookHandler = (request, _reply, done) => {
  // Node sets `upgrade` on the requests it hands to 'upgrade' listeners (untyped).
  if ((request.raw as { upgrade?: boolean }).upgrade !== true) {
    done();
    return;
  }
  request.raw.socket.end(
    'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
  );
};
const probe = { onRequest: refuseUpgrade };

/**
 * @fastify/otel ends its request span in onResponse, which Fastify runs only once a response
 * has finished. A client that leaves first (a cancelled stream over HTTP/1.1) would leave the
 * span open forever, never exported, and every span of the call orphaned under it. Read at
 * close: the span is null once onResponse has ended it.
 */
const endRequestSpanIfAbandoned: onRequestHookHandler = (request, reply, done) => {
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) request.opentelemetry().span?.end();
  });
  done();
};

/**
 * The web app's files, one route per file found at start (no catch-all route, so unknown
 * paths still reach the JSON 404 and route labels stay bounded). Hashed assets are cached
 * for good; index.html is revalidated so a deploy shows at the next load.
 */
async function serveWebApp(app: FastifyInstance, options: HttpServerOptions): Promise<void> {
  const dir = options.webAssetsDir;
  if (dir === undefined || dir === '') return;
  if (!existsSync(join(dir, 'index.html'))) {
    options.logger.info({ dir }, 'web app not built: nothing served at /');
    return;
  }
  await app.register(fastifyStatic, {
    root: resolve(dir),
    wildcard: false,
    setHeaders: (response, path) => {
      response.header(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
}

/** New connections get the new certificate; open ones (and their WebSockets) carry on. */
function reloadCertificates(app: FastifyInstance, files: CertificateFiles): void {
  const server: unknown = app.server;
  if (!(server instanceof TlsServer)) throw new Error('the HTTPS server is not a TLS server');
  files.onChange(({ cert, key }) => {
    server.setSecureContext({ cert, key });
  });
  files.track('http');
}

interface Observer {
  observe(value: number): void;
}

const hookList = <T>(hooks: T | T[] | undefined): T[] =>
  hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];

/**
 * `http_server_request_duration_seconds` and the request line, as the answer is handed to
 * the socket. Returns the recorder of one route template, holding that route's labelled series.
 */
function requestRecorder(
  registry: Registry,
  logger: Logger,
): (route: string) => (request: FastifyRequest, reply: FastifyReply) => void {
  const duration = histogram(registry, {
    name: 'http_server_request_duration_seconds',
    help: 'HTTP request duration by route template, until the answer is handed to the socket.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: LATENCY_BUCKETS,
  });
  return (route) => {
    const series = new Map<string, Observer>();
    const operational = OPERATIONAL_ROUTES.has(route);
    return (request, reply) => {
      const { method } = request;
      const status = reply.statusCode;
      const key = `${method} ${status}`;
      let observer = series.get(key);
      if (observer === undefined) {
        observer = duration.labels({ method, route, status_code: String(status) });
        series.set(key, observer);
      }
      const elapsedMs = reply.elapsedTime;
      observer.observe(elapsedMs / 1000);
      const level = operational && status < 500 ? 'debug' : 'info';
      // Children share the app logger's level; skip building a line nobody will write.
      if (logger.isLevelEnabled(level)) {
        request.log[level](
          {
            method,
            route,
            status_code: status,
            duration_ms: Math.round(elapsedMs * 1000) / 1000,
            req_id: request.id,
          },
          'http request finished',
        );
      }
    };
  };
}

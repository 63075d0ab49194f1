import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { buildHttpServer } from '../../src/transport/http/server.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const APP = 'https://app.example.com';
const FOREIGN = 'https://evil.example.net';

const build = (corsOrigins?: readonly string[]) =>
  buildHttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    registry: new Registry(),
    readiness: new Readiness(),
    tls: undefined,
    tracing: false,
    ...(corsOrigins === undefined ? {} : { corsOrigins }),
  });

const preflight = (app: FastifyInstance, origin: string) =>
  app.inject({
    method: 'OPTIONS',
    url: '/trading.v1.OrderService/PlaceOrder',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,connect-protocol-version',
    },
  });

describe('browsers across origins', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await build([APP]);
  });
  after(() => app.close());

  test('a listed origin gets a preflight answer allowing the Connect and gRPC-Web headers', async () => {
    const response = await preflight(app, APP);
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers['access-control-allow-origin'], APP);
    const allowed = String(response.headers['access-control-allow-headers']).toLowerCase();
    for (const header of [
      'authorization',
      'content-type',
      'connect-protocol-version',
      'x-grpc-web',
    ]) {
      assert.ok(allowed.includes(header), `${header} in ${allowed}`);
    }
    assert.equal(response.headers['access-control-allow-credentials'], undefined);
  });

  test('a listed origin can read the gRPC status headers of an answer', async () => {
    const response = await app.inject({ url: '/v1/nothing', headers: { origin: APP } });
    assert.equal(response.headers['access-control-allow-origin'], APP);
    const exposed = String(response.headers['access-control-expose-headers']).toLowerCase();
    assert.ok(exposed.includes('grpc-status') && exposed.includes('grpc-message'), exposed);
  });

  test('any other origin gets no CORS answer, so the browser refuses it', async () => {
    const response = await preflight(app, FOREIGN);
    assert.equal(response.headers['access-control-allow-origin'], undefined);
  });

  test('answers carry security headers', async () => {
    const response = await app.inject({ url: '/v1/nothing' });
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.match(String(response.headers['strict-transport-security']), /max-age=/);
    const csp = String(response.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, new RegExp(`connect-src 'self' ${APP}`));
  });
});

test('with no CORS_ORIGINS no origin is allowed', async () => {
  const app = await build();
  try {
    const response = await preflight(app, APP);
    assert.equal(response.headers['access-control-allow-origin'], undefined);
  } finally {
    await app.close();
  }
});

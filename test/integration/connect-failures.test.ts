import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';
import { installTestTracing } from '../support/tracing.js';

/**
 * A Connect or gRPC-Web call can fail outside its handler, where no interceptor sees it: here
 * Connect cannot build the call's URL from the request's Host header.
 */

installTestTracing();

let app: TestApp;

before(async () => {
  app = await startTestApp({ CORS_ORIGINS: 'https://app.example' });
});

after(async () => {
  await app.stop();
});

/** Sends `request` as written (no client would send this Host) and reads the whole answer. */
async function rawHttp(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(request);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

test('a Connect call failing outside its handler is logged through pino in its trace', async (t) => {
  const consoleError = t.mock.method(console, 'error', () => undefined);
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const body = '{}';

  const answer = await rawHttp(
    app.httpPort,
    [
      'POST /trading.v1.AuthService/Login HTTP/1.1',
      'Host: no such host',
      'Content-Type: application/json',
      'Origin: https://app.example',
      `traceparent: 00-${traceId}-00f067aa0ba902b7-01`,
      `Content-Length: ${body.length}`,
      'Connection: close',
      '',
      body,
    ].join('\r\n'),
  );

  const line = app.logs.find('connect call failed outside its handler');
  assert.ok(line, 'logged through pino');
  assert.equal(line.level, 'error');
  assert.equal(line.trace_id, traceId);
  assert.equal(line.grpc_service, 'trading.v1.AuthService');
  assert.equal(line.grpc_method, 'Login');
  assert.equal(consoleError.mock.callCount(), 0, 'nothing written with console.error');
  assert.match(answer, /^HTTP\/1\.1 500 /);
  // What the hooks set on the reply is on the 500 too: without CORS a browser sees no answer.
  assert.match(answer, /\r\naccess-control-allow-origin: https:\/\/app\.example\r\n/i);
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.js';

/**
 * The gRPC port does not hold connections that do nothing: idle ones get GOAWAY, silent ones
 * (no HTTP/2 preface, no answer to PING, no TLS handshake) are closed, and a connection with a
 * call in progress is left alone. Each test sets its own short limits.
 */

/** Limits long enough never to fire during a test, so each test sees only its own. */
const QUIET = {
  GRPC_KEEPALIVE_TIME_MS: '600000',
  GRPC_MAX_CONNECTION_IDLE_MS: '600000',
  GRPC_TLS_HANDSHAKE_TIMEOUT_MS: '600000',
};

async function withApp(env: Record<string, string>, fn: (app: TestApp) => Promise<void>) {
  const app = await startTestApp({ ...QUIET, ...env });
  try {
    await fn(app);
  } finally {
    await app.stop();
  }
}

function openSilentSocket(address: string): Promise<Socket> {
  const [host = '', port = ''] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port: Number(port) }, () => {
      resolve(socket);
    });
    socket.on('error', reject);
    socket.on('data', () => undefined); // the server's SETTINGS, PING, GOAWAY: never answered
  });
}

/** Resolves when the server has closed the socket, rejects after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server held a silent connection for more than ${ms} ms`));
    }, ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function expectSilentSocketsClosed(app: TestApp, count: number, ms: number) {
  const sockets = await Promise.all(
    Array.from({ length: count }, () => openSilentSocket(app.grpcAddress)),
  );
  await Promise.all(sockets.map((socket) => closedWithin(socket, ms)));
}

test('TCP connections that never send the HTTP/2 preface are closed after the idle limit', async () => {
  await withApp({ GRPC_MAX_CONNECTION_IDLE_MS: '300' }, async (app) => {
    await expectSilentSocketsClosed(app, 20, 5_000);
  });
});

test('a connection that does not answer keepalive pings is closed', async () => {
  await withApp(
    { GRPC_KEEPALIVE_TIME_MS: '200', GRPC_KEEPALIVE_TIMEOUT_MS: '200' },
    async (app) => {
      await expectSilentSocketsClosed(app, 5, 5_000);
    },
  );
});

test('a TLS connection that never completes its handshake is closed after the handshake limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grpc-tls-'));
  try {
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-days',
      '1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]);
    await withApp(
      { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, GRPC_TLS_HANDSHAKE_TIMEOUT_MS: '300' },
      async (app) => {
        await expectSilentSocketsClosed(app, 5, 5_000);
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function http2Session(app: TestApp): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${app.grpcAddress}`);
    session.once('connect', () => {
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** A Health/Watch call: the server keeps it open, sending a status whenever it changes. */
function watchHealth(session: ClientHttp2Session) {
  const stream = session.request({
    ':method': 'POST',
    ':path': '/grpc.health.v1.Health/Watch',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('data', () => undefined);
  stream.on('error', () => undefined); // cancelled at the end of the test
  // One empty HealthCheckRequest (the whole server): flag 0, length 0.
  stream.end(Buffer.alloc(5));
  return stream;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('an idle HTTP/2 connection gets GOAWAY after the idle limit', async () => {
  await withApp({ GRPC_MAX_CONNECTION_IDLE_MS: '300' }, async (app) => {
    const session = await http2Session(app);
    const events: string[] = [];
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy();
        reject(new Error('the idle connection is still open'));
      }, 5_000);
      session.once('goaway', () => {
        events.push('goaway');
      });
      session.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await closed;
    assert.deepEqual(events, ['goaway']);
  });
});

test('a connection with a call in progress is not cut by the idle limit', async () => {
  await withApp(
    { GRPC_MAX_CONNECTION_IDLE_MS: '300', GRPC_KEEPALIVE_TIME_MS: '200' },
    async (app) => {
      const session = await http2Session(app);
      let goaway = false;
      session.on('goaway', () => {
        goaway = true;
      });
      const stream = watchHealth(session);

      await sleep(1_500);

      assert.equal(goaway, false);
      assert.equal(stream.closed, false);
      assert.equal(session.closed, false);
      stream.close();
      session.close();
    },
  );
});

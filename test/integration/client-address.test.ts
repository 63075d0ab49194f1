import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Metadata, status, type Client } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { WsClient } from '../support/ws-client.js';

/**
 * Per-address limits key on the client's address. Behind a load balancer the peer is the
 * balancer, so with TRUSTED_PROXIES the address comes from X-Forwarded-For (its rightmost hop
 * that is not a trusted proxy) on every transport; without, the header is ignored. Each app
 * allows one registration per address and one WebSocket connection per address.
 */

const ONE_PER_ADDRESS = {
  REGISTER_IP_BURST: '1',
  REGISTER_IP_PER_MIN: '1',
  WS_MAX_CONNECTIONS_PER_IP: '1',
};
const PASSWORD = 'correct horse battery staple';

function startLimitedApp(env: Record<string, string> = {}) {
  return startTestApp({ ...ONE_PER_ADDRESS, ...env });
}

interface Callers {
  /** A gRPC Register from `forwardedFor`; resolves to its status code. */
  grpcRegister(forwardedFor: string): Promise<number>;
  /** A Connect Register on the HTTP port from `forwardedFor`; resolves to its error code. */
  connectRegister(forwardedFor: string): Promise<string>;
  /** A /ws connection from `forwardedFor`: the close code it gets at once, or 'open'. */
  websocket(forwardedFor: string): Promise<number | 'open'>;
  close(): void;
}

function callers(app: TestApp): Callers {
  const auth: Client = grpcClient(app.grpcAddress, AuthService);
  const sockets: WsClient[] = [];
  let user = 0;
  return {
    async grpcRegister(forwardedFor) {
      const metadata = new Metadata();
      metadata.set('x-forwarded-for', forwardedFor);
      const { error } = await unary(
        auth,
        'register',
        { username: `addr_grpc_${++user}`, password: PASSWORD },
        metadata,
      );
      return error?.code ?? status.OK;
    },
    async connectRegister(forwardedFor) {
      const answer = await fetch(`${app.httpUrl}/trading.v1.AuthService/Register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
        body: JSON.stringify({ username: `addr_connect_${++user}`, password: PASSWORD }),
      });
      if (answer.ok) return 'ok';
      return ((await answer.json()) as { code: string }).code;
    },
    async websocket(forwardedFor) {
      const client = await WsClient.connect(app.httpUrl, { 'x-forwarded-for': forwardedFor });
      sockets.push(client);
      // A refused connection is closed at once; an admitted one answers a subscribe.
      client.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
      await client.until(
        () => client.closed !== undefined || client.market().length > 0,
        'a close or the snapshot',
      );
      return client.closed?.code ?? 'open';
    },
    close() {
      for (const socket of sockets) socket.close();
      auth.close();
    },
  };
}

describe('without TRUSTED_PROXIES', () => {
  let app: TestApp;
  let call: Callers;
  before(async () => {
    app = await startLimitedApp();
    call = callers(app);
  });
  after(async () => {
    call.close();
    await app.stop();
  });

  test('a spoofed X-Forwarded-For is ignored: every caller here is the one peer', async () => {
    assert.equal(await call.grpcRegister('203.0.113.1'), status.OK);
    assert.equal(await call.grpcRegister('203.0.113.2'), status.RESOURCE_EXHAUSTED);
    assert.equal(await call.connectRegister('203.0.113.3'), 'resource_exhausted');
    assert.equal(await call.websocket('203.0.113.4'), 'open');
    assert.equal(await call.websocket('203.0.113.5'), 4430);
  });
});

describe('with the peer in TRUSTED_PROXIES', () => {
  let app: TestApp;
  let call: Callers;
  before(async () => {
    app = await startLimitedApp({ TRUSTED_PROXIES: '127.0.0.0/8,::1' });
    call = callers(app);
  });
  after(async () => {
    call.close();
    await app.stop();
  });

  test('gRPC: the rightmost untrusted hop of x-forwarded-for is the client', async () => {
    // What the client wrote on the left does not matter; the proxy appends what it saw.
    assert.equal(await call.grpcRegister('198.51.100.9, 203.0.113.1'), status.OK);
    assert.equal(await call.grpcRegister('203.0.113.2'), status.OK);
    assert.equal(await call.grpcRegister('10.9.9.9, 203.0.113.1'), status.RESOURCE_EXHAUSTED);
    assert.equal(await call.grpcRegister('203.0.113.1, 127.0.0.1'), status.RESOURCE_EXHAUSTED);
    const line = { grpc_method: 'Register', transport: 'grpc', peer: '203.0.113.2' };
    assert.ok(app.logs.find('grpc call finished', line), 'the call log names the client');
  });

  test('Connect: X-Forwarded-For names the client', async () => {
    assert.equal(await call.connectRegister('203.0.113.11'), 'ok');
    assert.equal(await call.connectRegister('203.0.113.12'), 'ok');
    assert.equal(await call.connectRegister('203.0.113.11'), 'resource_exhausted');
    const line = { grpc_method: 'Register', transport: 'connect', peer: '203.0.113.12' };
    assert.ok(app.logs.find('grpc call finished', line), 'the call log names the client');
  });

  test('/ws: X-Forwarded-For names the client, and the log line says which', async () => {
    assert.equal(await call.websocket('203.0.113.21'), 'open');
    assert.equal(await call.websocket('203.0.113.22'), 'open');
    assert.equal(await call.websocket('203.0.113.21'), 4430);
    assert.ok(app.logs.find('websocket connected', { client_ip: '203.0.113.22' }));
  });

  test('two IPv6 addresses in one /64 share a limit; another /64 has its own', async () => {
    assert.equal(await call.grpcRegister('2001:db8:1:2::1'), status.OK);
    assert.equal(await call.grpcRegister('2001:db8:1:2:ffff::9'), status.RESOURCE_EXHAUSTED);
    assert.equal(await call.grpcRegister('2001:db8:1:3::1'), status.OK);
    assert.equal(await call.websocket('2001:db8:5:6::1'), 'open');
    assert.equal(await call.websocket('2001:db8:5:6::2'), 4430);
    assert.equal(await call.websocket('2001:db8:5:7::1'), 'open');
  });
});

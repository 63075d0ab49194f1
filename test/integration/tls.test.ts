import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { Agent, get as httpsGet, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { GrpcOrderEngine } from '../../src/adapters/engine/grpc-order-engine.js';
import type { OrderEngine, Submitted } from '../../src/domain/orders/order-engine.port.js';
import { EngineService } from '../../src/gen/trading/internal/v1/engine_pb.js';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { CertificateFiles } from '../../src/shared/tls/certificate-files.js';
import { buildHttpServer } from '../../src/transport/http/server.js';
import {
  registration,
  startGrpcServer,
  type GrpcServer,
  type ServiceRegistration,
} from '../../src/transport/grpc/server.js';
import { engineRpc } from '../../src/transport/rpc/engine.rpc.js';
import { healthClient, unary } from '../support/grpc.js';
import { createTestPki, type PairFiles, type TestPki } from '../support/tls.js';
import {
  eventually,
  metricValue as sample,
  silentLogger,
} from '../unit/adapters/support/observability.js';

/**
 * Every listener serves TLS from files that are watched: clients that trust the CA get in,
 * others (another CA, no CA, plaintext, an expired certificate) do not; the internal engine
 * listener also requires a client certificate from the CA; rotated files reach new
 * connections while open ones carry on.
 */

const logger = silentLogger();
const RELOAD_MS = 100;

interface Servers {
  readonly files: CertificateFiles;
  readonly registry: Registry;
  readonly grpc: GrpcServer;
  readonly http: FastifyInstance;
  readonly httpPort: number;
  close(): Promise<void>;
}

async function startServers(
  pair: PairFiles,
  caFile: string,
  options: { requireClientCert?: boolean; registrations?: ServiceRegistration[] } = {},
): Promise<Servers> {
  const registry = new Registry();
  const files = await CertificateFiles.open(
    { ...pair, caFile },
    { reloadIntervalMs: RELOAD_MS, logger, registry },
  );
  const grpc = await startGrpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      logger,
      registry,
      readiness: new Readiness(),
      tls: { files, requireClientCert: options.requireClientCert ?? false },
    },
    options.registrations ?? [],
  );
  const http = await buildHttpServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    registry,
    readiness: new Readiness(),
    tls: files,
    tracing: false,
  });
  await http.listen({ host: '127.0.0.1', port: 0 });
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    files,
    registry,
    grpc,
    http,
    httpPort,
    close: async () => {
      files.close();
      grpc.forceClose();
      await http.close();
    },
  };
}

async function sslCredentials(caFile: string | undefined, client?: PairFiles) {
  return credentials.createSsl(
    caFile === undefined ? null : await readFile(caFile),
    client === undefined ? null : await readFile(client.keyFile),
    client === undefined ? null : await readFile(client.certFile),
  );
}

async function healthCheck(port: number, channel: ChannelCredentials) {
  const client = healthClient(`127.0.0.1:${port}`, channel);
  try {
    return await unary<{ status: number }>(client, 'check', { service: '' });
  } finally {
    client.close();
  }
}

function httpsHealth(port: number, options: RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, path: '/healthz', ...options }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    }).on('error', reject);
  });
}

/** The SHA-256 fingerprint of the certificate a new TLS connection is served. */
function servedFingerprint(port: number, caFile: string, alpn: string): Promise<string> {
  return readFile(caFile).then(
    (ca) =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca, ALPNProtocols: [alpn] }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.destroy();
        });
        socket.on('error', reject);
      }),
  );
}

const fingerprintOf = async (certFile: string) =>
  new X509Certificate(await readFile(certFile)).fingerprint256;

let pki: TestPki;
before(async () => {
  pki = await createTestPki();
});
after(async () => {
  await pki.remove();
});

describe('TLS on the public gRPC and HTTP listeners', () => {
  let servers: Servers;
  let live: PairFiles;

  before(async () => {
    // The files the servers read, which the rotation test overwrites.
    live = { certFile: join(pki.dir, 'live.crt'), keyFile: join(pki.dir, 'live.key') };
    await copyFile(pki.server.certFile, live.certFile);
    await copyFile(pki.server.keyFile, live.keyFile);
    servers = await startServers(live, pki.caFile);
  });
  after(async () => {
    await servers.close();
  });

  test('a client trusting the CA connects over gRPC and over HTTPS', async () => {
    const { error, response } = await healthCheck(
      servers.grpc.port,
      await sslCredentials(pki.caFile),
    );
    assert.equal(error, null);
    assert.ok(response !== undefined);
    const ca = await readFile(pki.caFile);
    assert.equal(await httpsHealth(servers.httpPort, { ca, agent: false }), 200);
  });

  test('a client trusting another CA is refused on both', async () => {
    const { error } = await healthCheck(servers.grpc.port, await sslCredentials(pki.otherCaFile));
    assert.equal(error?.code, status.UNAVAILABLE);
    const ca = await readFile(pki.otherCaFile);
    await assert.rejects(httpsHealth(servers.httpPort, { ca, agent: false }), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  test('a client trusting only the system CAs is refused on both', async () => {
    const { error } = await healthCheck(servers.grpc.port, await sslCredentials(undefined));
    assert.equal(error?.code, status.UNAVAILABLE);
    await assert.rejects(httpsHealth(servers.httpPort, { agent: false }), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  test('a plaintext client gets nothing from either', async () => {
    const { error } = await healthCheck(servers.grpc.port, credentials.createInsecure());
    assert.equal(error?.code, status.UNAVAILABLE);
    await assert.rejects(
      new Promise((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port: servers.httpPort, path: '/healthz' }, resolve).on(
          'error',
          reject,
        );
      }),
    );
  });

  test('the seconds left on each listener certificate are exported', async () => {
    for (const listener of ['grpc', 'http']) {
      const left = await sample(servers.registry, 'tls_certificate_expiry_seconds', { listener });
      assert.ok(left !== undefined && left > 86_000 && left <= 86_400, `${listener}: ${left}`);
    }
  });

  test('rotated files reach new connections while open ones carry on', async () => {
    // Open before the rotation: a gRPC server stream and a kept-alive HTTPS connection.
    const ca = await readFile(pki.caFile);
    const watcher = healthClient(
      `127.0.0.1:${servers.grpc.port}`,
      await sslCredentials(pki.caFile),
    );
    const watch = watcher.makeServerStreamRequest(
      '/grpc.health.v1.Health/Watch',
      () => Buffer.alloc(0), // HealthCheckRequest{service: ''} encodes to nothing
      (bytes: Buffer) => bytes,
      { service: '' },
    );
    let watchEnded: ServiceError | 'ended' | undefined;
    watch.on('error', (error: ServiceError) => (watchEnded = error));
    watch.on('end', () => (watchEnded = 'ended'));
    await new Promise((resolve) => watch.once('data', resolve));
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
    assert.equal(await httpsHealth(servers.httpPort, { agent }), 200);

    const rotated = await pki.issue('rotated', ['server', 'client']);
    const expected = await fingerprintOf(rotated.certFile);
    await writeFile(live.keyFile, await readFile(rotated.keyFile));
    await writeFile(live.certFile, await readFile(rotated.certFile));

    await eventually(
      async () =>
        (await servedFingerprint(servers.grpc.port, pki.caFile, 'h2')) === expected &&
        (await servedFingerprint(servers.httpPort, pki.caFile, 'http/1.1')) === expected,
      { what: 'the rotated certificate on both listeners', intervalMs: 25 },
    );
    assert.equal(watchEnded, undefined, 'the open gRPC stream was ended by the rotation');
    const reused = await new Promise<boolean>((resolve, reject) => {
      const request = httpsGet(
        { host: '127.0.0.1', port: servers.httpPort, path: '/healthz', agent },
        (res) => {
          res.resume();
          resolve(request.reusedSocket);
        },
      ).on('error', reject);
    });
    assert.equal(reused, true, 'the open HTTPS connection did not survive the rotation');
    assert.equal(
      await sample(servers.registry, 'tls_certificate_reloads_total', { result: 'success' }),
      1,
    );
    watch.cancel();
    watcher.close();
    agent.destroy();
  });

  test('a half-written rotation is skipped and the current certificate keeps serving', async () => {
    const serving = await servedFingerprint(servers.grpc.port, pki.caFile, 'h2');
    const next = await pki.issue('half-written', ['server']);
    // The new certificate with the old key: not a usable pair.
    await writeFile(live.certFile, await readFile(next.certFile));

    assert.equal(await servers.files.check(), false);
    assert.equal(await servedFingerprint(servers.grpc.port, pki.caFile, 'h2'), serving);
    assert.equal(await servedFingerprint(servers.httpPort, pki.caFile, 'http/1.1'), serving);
    assert.ok(
      ((await sample(servers.registry, 'tls_certificate_reloads_total', { result: 'failure' })) ??
        0) >= 1,
    );
    const { error } = await healthCheck(servers.grpc.port, await sslCredentials(pki.caFile));
    assert.equal(error, null);
  });
});

test('an expired server certificate is refused by clients on both listeners', async () => {
  const servers = await startServers(pki.expiredServer, pki.caFile);
  try {
    const { error } = await healthCheck(servers.grpc.port, await sslCredentials(pki.caFile));
    assert.equal(error?.code, status.UNAVAILABLE);
    const ca = await readFile(pki.caFile);
    await assert.rejects(httpsHealth(servers.httpPort, { ca, agent: false }), {
      code: 'CERT_HAS_EXPIRED',
    });
    const left = await sample(servers.registry, 'tls_certificate_expiry_seconds', {
      listener: 'grpc',
    });
    assert.ok(left !== undefined && left < 0);
  } finally {
    await servers.close();
  }
});

describe('mTLS between api and engine', () => {
  let engine: Servers;
  const submitted: Submitted = {
    result: {
      order: {
        id: 1,
        userId: 1,
        clientOrderId: 'c-1',
        symbol: 'BTC-USD',
        side: 'buy',
        type: 'limit',
        timeInForce: 'GTC',
        price: 100,
        reservePrice: 100,
        quantity: 1,
        filled: 0,
        status: 'canceled',
        postOnly: false,
        reason: '',
        priority: 1,
        createdAt: new Date(0),
        updatedAt: new Date(0),
      },
      fills: [],
    },
    replayed: false,
  };
  const scripted: OrderEngine = { submit: () => Promise.resolve(submitted) };

  before(async () => {
    engine = await startServers(pki.server, pki.caFile, {
      requireClientCert: true,
      registrations: [registration(EngineService, engineRpc(scripted))],
    });
  });
  after(async () => {
    await engine.close();
  });

  test('the api client presenting a certificate from the CA is served', async () => {
    const registry = new Registry();
    const files = await CertificateFiles.open(
      { ...pki.client, caFile: pki.caFile },
      { reloadIntervalMs: 0, logger, registry },
    );
    const client = new GrpcOrderEngine({
      address: `127.0.0.1:${engine.grpc.port}`,
      tls: files,
      timeoutMs: 2_000,
      breaker: { threshold: 5, halfOpenAfterMs: 60_000 },
      logger,
      registry,
    });
    try {
      const answer = await client.submit({
        kind: 'cancel',
        userId: 1,
        symbol: 'BTC-USD',
        orderId: 1,
      });
      assert.equal(answer.replayed, false);
    } finally {
      client.close();
      files.close();
    }
  });

  const refused: [string, () => PairFiles | undefined][] = [
    ['no client certificate', () => undefined],
    ['an expired client certificate', () => pki.expiredClient],
    ['a client certificate from another CA', () => pki.otherClient],
  ];
  for (const [name, client] of refused) {
    test(`a client with ${name} is refused`, async () => {
      const { error } = await healthCheck(
        engine.grpc.port,
        await sslCredentials(pki.caFile, client()),
      );
      assert.equal(error?.code, status.UNAVAILABLE, error?.details);
    });
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const problemsOf = (env: Record<string, string>): readonly string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
};

test('defaults describe a laptop process serving every role on the embedded stores', () => {
  const config = loadConfig({});
  assert.equal(config.role, 'all');
  assert.equal(config.http.port, 8080);
  assert.equal(config.grpc.port, 50051);
  assert.equal(config.databaseUrl, undefined);
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.tls, undefined);
  assert.match(config.version, /^\d+\.\d+\.\d+/);
});

test('the config is frozen all the way down', () => {
  const config = loadConfig({});
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.http));
  assert.throws(() => {
    (config.http as { port: number }).port = 1;
  }, TypeError);
});

test('names the variable, its value and what is allowed for a bad port', () => {
  assert.deepEqual(problemsOf({ HTTP_PORT: 'eighty' }), [
    'HTTP_PORT="eighty": expected a whole number from 0 to 65535',
  ]);
  assert.deepEqual(problemsOf({ GRPC_PORT: '70000' }), [
    'GRPC_PORT="70000": expected a whole number from 0 to 65535',
  ]);
});

test('lists the allowed roles for an unknown role', () => {
  assert.deepEqual(problemsOf({ ROLE: 'worker' }), [
    'ROLE="worker": expected one of all, api, stream, engine',
  ]);
});

test('reports every bad variable at once, not just the first', () => {
  const problems = problemsOf({ ROLE: 'x', LOG_LEVEL: 'loud', SHUTDOWN_TIMEOUT_MS: '-1' });
  assert.equal(problems.length, 3);
  assert.ok(problems.some((p) => p.startsWith('LOG_LEVEL="loud": expected one of fatal, error')));
  assert.ok(problems.some((p) => p.startsWith('SHUTDOWN_TIMEOUT_MS="-1": expected milliseconds')));
});

test('rejects a database URL of the wrong kind without printing its password', () => {
  const [problem] = problemsOf({ DATABASE_URL: 'mysql://app:s3cret@db:3306/x' });
  assert.equal(
    problem,
    'DATABASE_URL="mysql://app:***@db:3306/x": expected a URL starting with postgres:// or postgresql://',
  );
});

test('requires TLS certificate and key together, and files that exist', () => {
  assert.deepEqual(problemsOf({ TLS_CERT_FILE: '/does/not/exist.pem' }), [
    'TLS_CERT_FILE="/does/not/exist.pem": file does not exist',
  ]);
  assert.deepEqual(problemsOf({ TLS_CERT_FILE: 'package.json' }), [
    'TLS_CERT_FILE and TLS_KEY_FILE: set both or neither',
  ]);
});

test('TLS_MODE is files when certificate files are given, off otherwise', () => {
  const files = loadConfig({ TLS_CERT_FILE: 'package.json', TLS_KEY_FILE: 'package.json' });
  assert.equal(files.tls?.mode, 'files');
  assert.equal(files.tls.certFile, 'package.json');
  assert.equal(files.tls.reloadIntervalMs, 10_000);
  assert.equal(loadConfig({}).tls, undefined);
  assert.deepEqual(problemsOf({ TLS_MODE: 'files' }), [
    'TLS_MODE=files: set TLS_CERT_FILE and TLS_KEY_FILE',
  ]);
  assert.deepEqual(
    problemsOf({ TLS_MODE: 'off', TLS_CERT_FILE: 'package.json', TLS_KEY_FILE: 'package.json' }),
    ['TLS_MODE=off: TLS_CERT_FILE is set; use TLS_MODE=files or unset it'],
  );
});

test('TLS_MODE=dev serves certificates made in the dev directory, by default under DATA_DIR', () => {
  const dev = loadConfig({ TLS_MODE: 'dev', DATA_DIR: '/tmp/x' });
  assert.deepEqual(
    { ...dev.tls },
    {
      mode: 'dev',
      certFile: '/tmp/x/tls/server.crt',
      keyFile: '/tmp/x/tls/server.key',
      caFile: '/tmp/x/tls/ca.crt',
      devDir: '/tmp/x/tls',
      reloadIntervalMs: 10_000,
    },
  );
  assert.equal(
    loadConfig({ TLS_MODE: 'dev', TLS_DEV_DIR: 'certs' }).tls?.certFile,
    'certs/server.crt',
  );
  assert.deepEqual(problemsOf({ TLS_MODE: 'dev', TLS_RELOAD_INTERVAL_MS: '50' }), [
    'TLS_RELOAD_INTERVAL_MS="50": expected 0 (never reload) or at least 100 milliseconds',
  ]);
});

test('refuses the same port for HTTP and gRPC', () => {
  assert.deepEqual(problemsOf({ HTTP_PORT: '9000', GRPC_PORT: '9000' }), [
    'HTTP_PORT and GRPC_PORT are both 9000: they must differ',
  ]);
});

test('treats an empty optional variable as unset', () => {
  assert.equal(loadConfig({ REDIS_URL: '' }).redisUrl, undefined);
  assert.equal(
    loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl,
    'redis://127.0.0.1:6379',
  );
});

test('the error message lists each problem on its own line', () => {
  assert.throws(() => loadConfig({ HTTP_PORT: 'x' }), {
    message: 'Invalid configuration:\n  - HTTP_PORT="x": expected a whole number from 0 to 65535',
  });
});

test('runs the market simulator by default at a modest, seeded pace', () => {
  const { simulator } = loadConfig({});
  assert.deepEqual(simulator, { enabled: true, ratePerSec: 5, bots: 4, seed: 42 });
  assert.equal(loadConfig({ SIMULATOR_ENABLED: 'false' }).simulator.enabled, false);
});

test('names what is allowed for a bad simulator setting', () => {
  assert.deepEqual(problemsOf({ SIMULATOR_ENABLED: 'yes' }), [
    'SIMULATOR_ENABLED="yes": expected true or false',
  ]);
  assert.deepEqual(problemsOf({ SIMULATOR_RATE: '0' }), [
    'SIMULATOR_RATE="0": expected a whole number from 1 to 1000',
  ]);
  assert.deepEqual(problemsOf({ SIMULATOR_SEED: '-3' }), [
    'SIMULATOR_SEED="-3": expected a whole number from 1 to 4294967295',
  ]);
});

test('refuses a single simulator bot, which would have nobody to trade with', () => {
  assert.deepEqual(problemsOf({ SIMULATOR_BOTS: '1' }), [
    'SIMULATOR_BOTS="1": expected at least 2 bots, so they have someone to trade with',
  ]);
});

test('ROLE=api needs the engine address it calls, and reads the engine settings', () => {
  assert.deepEqual(problemsOf({ ROLE: 'api' }), [
    'ENGINE_ADDRESS=(unset): ROLE=api calls the engine over gRPC; set its address (e.g. engine:50051)',
  ]);
  const config = loadConfig({
    ROLE: 'api',
    ENGINE_ADDRESS: 'dns:///engine:50051',
    ENGINE_TIMEOUT_MS: '1500',
    ENGINE_LEADER_POLL_MS: '250',
    ENGINE_LEADER_LEASE_MS: '2000',
  });
  assert.deepEqual(config.engine, {
    address: 'dns:///engine:50051',
    timeoutMs: 1500,
    leaderPollMs: 250,
    leaderLeaseMs: 2000,
  });
});

test('refuses an engine lease shorter than two leader polls', () => {
  assert.deepEqual(problemsOf({ ENGINE_LEADER_POLL_MS: '1000', ENGINE_LEADER_LEASE_MS: '1500' }), [
    'ENGINE_LEADER_LEASE_MS="1500": must be at least twice ENGINE_LEADER_POLL_MS (1000), or a leader renewing on time could lose its lease',
  ]);
});

test('traces every call by default; OTEL_TRACES_SAMPLER and its ratio are the standard ones', () => {
  assert.deepEqual(loadConfig({}).telemetry.sampler, { name: 'parentbased_always_on', ratio: 1 });
  assert.deepEqual(
    loadConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })
      .telemetry.sampler,
    { name: 'parentbased_traceidratio', ratio: 0.1 },
  );
  assert.deepEqual(problemsOf({ OTEL_TRACES_SAMPLER: 'sometimes' }), [
    'OTEL_TRACES_SAMPLER="sometimes": expected one of always_on, always_off, traceidratio, ' +
      'parentbased_always_on, parentbased_always_off, parentbased_traceidratio',
  ]);
  assert.deepEqual(problemsOf({ OTEL_TRACES_SAMPLER_ARG: '1.5' }), [
    'OTEL_TRACES_SAMPLER_ARG="1.5": expected a ratio from 0 to 1',
  ]);
});

test('the gRPC port bounds its connections by default; 0 turns a limit off', () => {
  assert.deepEqual(loadConfig({}).grpc.connections, {
    keepaliveTimeMs: 60_000,
    keepaliveTimeoutMs: 20_000,
    maxIdleMs: 300_000,
    maxAgeMs: undefined,
    maxAgeGraceMs: 30_000,
    tlsHandshakeTimeoutMs: 10_000,
  });
  const off = loadConfig({
    GRPC_KEEPALIVE_TIME_MS: '0',
    GRPC_MAX_CONNECTION_IDLE_MS: '0',
    GRPC_MAX_CONNECTION_AGE_MS: '1800000',
  }).grpc.connections;
  assert.equal(off.keepaliveTimeMs, undefined);
  assert.equal(off.maxIdleMs, undefined);
  assert.equal(off.maxAgeMs, 1_800_000);
});

test('names what is allowed for a bad gRPC connection limit', () => {
  assert.deepEqual(problemsOf({ GRPC_KEEPALIVE_TIMEOUT_MS: '0' }), [
    'GRPC_KEEPALIVE_TIMEOUT_MS="0": expected a whole number from 1 to 600000',
  ]);
  assert.deepEqual(problemsOf({ GRPC_MAX_CONNECTION_IDLE_MS: 'soon' }), [
    'GRPC_MAX_CONNECTION_IDLE_MS="soon": expected milliseconds, a whole number from 0 to 86400000',
  ]);
});

test('login limits: per (username, address) tighter than per username across addresses', () => {
  const { limits } = loadConfig({});
  assert.deepEqual(limits.loginPerUserIp, { ratePerSec: 5 / 60, burst: 10 });
  assert.deepEqual(limits.loginPerUser, { ratePerSec: 50 / 60, burst: 100 });
  assert.deepEqual(problemsOf({ LOGIN_USER_BURST: '10' }), [
    'LOGIN_USER_BURST="10": must exceed LOGIN_USER_IP_BURST (10), or one address could lock a user out',
  ]);
  assert.deepEqual(problemsOf({ LOGIN_USER_IP_PER_MIN: '60' }), [
    'LOGIN_USER_PER_MIN="50": must be at least LOGIN_USER_IP_PER_MIN (60), or one address could lock a user out',
  ]);
});

test('registrations per client address: a small burst, a few a minute, failing closed', () => {
  const { limits } = loadConfig({});
  assert.deepEqual(limits.registerPerIp, { ratePerSec: 2 / 60, burst: 10 });
  assert.equal(limits.registerFailureMode, 'closed');
  const custom = loadConfig({
    REGISTER_IP_BURST: '3',
    REGISTER_IP_PER_MIN: '6',
    REGISTER_LIMIT_FAILURE_MODE: 'open',
  });
  assert.deepEqual(custom.limits.registerPerIp, { ratePerSec: 0.1, burst: 3 });
  assert.equal(custom.limits.registerFailureMode, 'open');
  assert.deepEqual(problemsOf({ REGISTER_IP_BURST: '0', REGISTER_LIMIT_FAILURE_MODE: 'maybe' }), [
    'REGISTER_IP_BURST="0": expected a whole number from 1 to 100000',
    'REGISTER_LIMIT_FAILURE_MODE="maybe": expected open or closed',
  ]);
});

test('market data per client address: streams open per process, subscribes over time', () => {
  const { limits, streams } = loadConfig({});
  assert.equal(streams.maxPerIp, 100);
  assert.deepEqual(limits.subscribePerIp, { ratePerSec: 10, burst: 200 });
  assert.equal(limits.subscribeFailureMode, 'open');
  const custom = loadConfig({
    STREAM_MAX_PER_IP: '3',
    SUBSCRIBE_IP_BURST: '3',
    SUBSCRIBE_IP_PER_MIN: '6',
    SUBSCRIBE_LIMIT_FAILURE_MODE: 'closed',
  });
  assert.equal(custom.streams.maxPerIp, 3);
  assert.deepEqual(custom.limits.subscribePerIp, { ratePerSec: 0.1, burst: 3 });
  assert.equal(custom.limits.subscribeFailureMode, 'closed');
  assert.deepEqual(problemsOf({ STREAM_MAX_PER_IP: '0' }), [
    'STREAM_MAX_PER_IP="0": expected a whole number from 1 to 1000000',
  ]);
  assert.deepEqual(problemsOf({ STREAM_MAX_PER_IP: '300' }), [
    'SUBSCRIBE_IP_BURST="200": must be at least STREAM_MAX_PER_IP (300), or an address\'s streams could not all resubscribe at once after a pod is drained',
  ]);
});

test('refreshes and logouts per client address', () => {
  const { limits } = loadConfig({});
  assert.deepEqual(limits.refreshPerIp, { ratePerSec: 5, burst: 100 });
  assert.equal(limits.refreshFailureMode, 'open');
  const custom = loadConfig({
    REFRESH_IP_BURST: '3',
    REFRESH_IP_PER_MIN: '6',
    REFRESH_LIMIT_FAILURE_MODE: 'closed',
  });
  assert.deepEqual(custom.limits.refreshPerIp, { ratePerSec: 0.1, burst: 3 });
  assert.equal(custom.limits.refreshFailureMode, 'closed');
});

test('order book snapshots per client address', () => {
  const { limits } = loadConfig({});
  assert.deepEqual(limits.orderBookPerIp, { ratePerSec: 20, burst: 100 });
  assert.equal(limits.orderBookFailureMode, 'open');
  const custom = loadConfig({
    ORDER_BOOK_IP_BURST: '3',
    ORDER_BOOK_IP_PER_MIN: '6',
    ORDER_BOOK_LIMIT_FAILURE_MODE: 'closed',
  });
  assert.deepEqual(custom.limits.orderBookPerIp, { ratePerSec: 0.1, burst: 3 });
  assert.equal(custom.limits.orderBookFailureMode, 'closed');
});

test('TRUSTED_PROXIES takes addresses and CIDR networks, none by default', () => {
  assert.deepEqual(loadConfig({}).trustedProxies, []);
  assert.deepEqual(
    loadConfig({ TRUSTED_PROXIES: '10.0.0.0/16, 192.168.1.7,2600:1f18::/56' }).trustedProxies,
    ['10.0.0.0/16', '192.168.1.7', '2600:1f18::/56'],
  );
  for (const bad of ['10.0.0.0/33', '10.0.0.0/0', 'alb.internal', '10.0.0.0/16/2', '::/129']) {
    assert.deepEqual(problemsOf({ TRUSTED_PROXIES: bad }), [
      `TRUSTED_PROXIES="${bad}": expected a comma-separated list of addresses or CIDR networks such as 10.0.0.0/16`,
    ]);
  }
});

test('CORS_ORIGINS takes exact origins, none by default', () => {
  assert.deepEqual(loadConfig({}).http.corsOrigins, []);
  assert.deepEqual(
    loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).http.corsOrigins,
    ['https://app.example.com', 'http://localhost:5173'],
  );
  assert.deepEqual(problemsOf({ CORS_ORIGINS: 'https://app.example.com/path' }), [
    'CORS_ORIGINS="https://app.example.com/path": expected a comma-separated list of origins such as https://app.example.com',
  ]);
});

test('the stream drain window defaults to half the shutdown deadline and may not exceed it', () => {
  assert.equal(loadConfig({}).streams.drainWindowMs, 10_000);
  assert.equal(loadConfig({ SHUTDOWN_TIMEOUT_MS: '90000' }).streams.drainWindowMs, 45_000);
  assert.equal(loadConfig({ STREAM_DRAIN_WINDOW_MS: '3000' }).streams.drainWindowMs, 3_000);
  assert.deepEqual(problemsOf({ STREAM_DRAIN_WINDOW_MS: '15000', SHUTDOWN_TIMEOUT_MS: '20000' }), [
    'STREAM_DRAIN_WINDOW_MS="15000": at most half of SHUTDOWN_TIMEOUT_MS (20000), so servers, shards and pools still close within the deadline after the streams are drained',
  ]);
});

test('the drain linger is off by default and must leave the closing steps their share of the deadline', () => {
  assert.equal(loadConfig({}).streams.drainLingerMs, 0);
  // The stream pods' settings: 45 s window + 30 s linger leave 15 s of 90.
  assert.equal(
    loadConfig({ SHUTDOWN_TIMEOUT_MS: '90000', STREAM_DRAIN_LINGER_MS: '30000' }).streams
      .drainLingerMs,
    30_000,
  );
  assert.deepEqual(problemsOf({ SHUTDOWN_TIMEOUT_MS: '90000', STREAM_DRAIN_LINGER_MS: '40000' }), [
    'STREAM_DRAIN_LINGER_MS="40000": at most 35000 here, SHUTDOWN_TIMEOUT_MS (90000) less the stream drain window (45000) and 10000 ms for servers, shards and pools to close; raise SHUTDOWN_TIMEOUT_MS or shorten STREAM_DRAIN_WINDOW_MS',
  ]);
  // The default deadline keeps half for closing, which the default window takes.
  assert.deepEqual(problemsOf({ STREAM_DRAIN_LINGER_MS: '5000' }), [
    'STREAM_DRAIN_LINGER_MS="5000": at most 0 here, SHUTDOWN_TIMEOUT_MS (20000) less the stream drain window (10000) and 10000 ms for servers, shards and pools to close; raise SHUTDOWN_TIMEOUT_MS or shorten STREAM_DRAIN_WINDOW_MS',
  ]);
  assert.equal(
    loadConfig({ STREAM_DRAIN_WINDOW_MS: '4000', STREAM_DRAIN_LINGER_MS: '6000' }).streams
      .drainLingerMs,
    6_000,
  );
});

test('AUTH_REQUIRE_KEY_FILES refuses a development signing key', () => {
  assert.deepEqual(problemsOf({ AUTH_REQUIRE_KEY_FILES: 'true' }), [
    'AUTH_JWT_PRIVATE_KEY_FILE=(unset): AUTH_REQUIRE_KEY_FILES=true needs the shared Ed25519 signing key (and AUTH_JWT_PUBLIC_KEY_FILE), not a per-process development key',
  ]);
  // Any existing file passes config; signing-keys checks that it is an Ed25519 key.
  const config = loadConfig({
    AUTH_REQUIRE_KEY_FILES: 'true',
    AUTH_JWT_PRIVATE_KEY_FILE: 'package.json',
  });
  assert.equal(config.auth.privateKeyFile, 'package.json');
  assert.doesNotThrow(() => loadConfig({ AUTH_REQUIRE_KEY_FILES: 'false' }));
  // A stream pod only verifies: the public key will do, and nothing else will.
  const stream = { ROLE: 'stream', AUTH_REQUIRE_KEY_FILES: 'true' };
  assert.equal(problemsOf(stream).length, 1);
  assert.doesNotThrow(() => loadConfig({ ...stream, AUTH_JWT_PUBLIC_KEY_FILE: 'package.json' }));
  const signer = { AUTH_JWT_PUBLIC_KEY_FILE: 'package.json', AUTH_REQUIRE_KEY_FILES: 'true' };
  assert.equal(problemsOf(signer).length, 1, 'ROLE=all signs: it needs the private key');
});

test('a /ws socket holds 1 MiB unflushed by default; WS_SEND_HIGH_WATER_BYTES from 16 KiB to 64 MiB', () => {
  assert.equal(loadConfig({}).websocket.sendHighWaterBytes, 1_048_576);
  assert.equal(
    loadConfig({ WS_SEND_HIGH_WATER_BYTES: '16384' }).websocket.sendHighWaterBytes,
    16_384,
  );
  const allowed = 'expected a whole number of bytes from 16384 to 67108864';
  assert.deepEqual(problemsOf({ WS_SEND_HIGH_WATER_BYTES: '16383' }), [
    `WS_SEND_HIGH_WATER_BYTES="16383": ${allowed}`,
  ]);
  assert.deepEqual(problemsOf({ WS_SEND_HIGH_WATER_BYTES: '67108865' }), [
    `WS_SEND_HIGH_WATER_BYTES="67108865": ${allowed}`,
  ]);
  assert.deepEqual(problemsOf({ WS_SEND_HIGH_WATER_BYTES: '1MiB' }), [
    `WS_SEND_HIGH_WATER_BYTES="1MiB": ${allowed}`,
  ]);
});

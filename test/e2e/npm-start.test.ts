// `npm start` as a person runs it: a SIGTERM to npm, or a Ctrl-C (SIGINT to the terminal's
// whole process group: npm, and the app beside it), must let the app drain, and npm must not
// return before the app has exited, with the app's exit code.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import { freePort } from '../support/process.js';

const schemas: string[] = [];
let dataDir = '';

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tp-npm-start-'));
  // `npm start` builds first (prestart); the tests run the start script alone
  // (--ignore-scripts skips only pre/post scripts), so build once here.
  const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
});

after(async () => {
  for (const schema of schemas) await dropSchema(TEST_DATABASE_URL, schema);
  await rm(dataDir, { recursive: true, force: true });
});

interface NpmStart {
  readonly npm: ChildProcess;
  readonly grpcAddress: string;
  readonly lines: { msg?: string; at: number }[];
  readonly exited: Promise<{ code: number | null; signal: string | null; at: number }>;
  waitForLog(msg: string): Promise<void>;
}

async function npmStart(env: Record<string, string> = {}): Promise<NpmStart> {
  const schema = uniqueName('npmstart');
  schemas.push(schema);
  const grpcPort = await freePort();
  const npm = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
    // Its own process group, so the test can signal the group as a terminal's Ctrl-C does.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      HTTP_PORT: String(await freePort()),
      GRPC_PORT: String(grpcPort),
      DATABASE_URL: TEST_DATABASE_URL,
      PG_SCHEMA: schema,
      PG_POOL_MAX: '2',
      DATA_DIR: dataDir,
      SIMULATOR_ENABLED: 'false',
      TELEMETRY_ENABLED: 'false',
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_DELAY_MS: '1500',
      ...env,
    },
  });
  const lines: { msg?: string; at: number }[] = [];
  const waiters: { msg: string; resolve: () => void }[] = [];
  createInterface({ input: npm.stdout }).on('line', (text) => {
    let msg: string | undefined;
    try {
      msg = (JSON.parse(text) as { msg?: string }).msg;
    } catch {
      return;
    }
    lines.push({ msg, at: Date.now() });
    for (const waiter of waiters.filter((w) => w.msg === msg)) waiter.resolve();
  });
  npm.stderr.resume();
  const exited = once(npm, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as string | null,
    at: Date.now(),
  }));
  return {
    npm,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    lines,
    exited,
    waitForLog: (msg) =>
      lines.some((line) => line.msg === msg)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
              reject(new Error(`no "${msg}" within 60 s`));
            }, 60_000);
            waiters.push({
              msg,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            });
          }),
  };
}

/** Kills whatever is left of the group (the app too) if a test failed half-way. */
function cleanUp(run: NpmStart): void {
  try {
    if (run.npm.pid !== undefined) process.kill(-run.npm.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

const at = (run: NpmStart, msg: string): number | undefined =>
  run.lines.find((line) => line.msg === msg)?.at;

test('SIGTERM to npm start drains the app and returns only once it exited, with its code', async () => {
  const run = await npmStart();
  try {
    await run.waitForLog('app started');
    const signalledAt = Date.now();
    run.npm.kill('SIGTERM');
    const { code, at: exitedAt } = await run.exited;

    assert.equal(code, 0);
    const finished = at(run, 'shutdown finished');
    assert.ok(finished !== undefined, 'the app logged "shutdown finished" before npm returned');
    assert.ok(finished <= exitedAt);
    // The drain delay (1.5 s) was waited out, not cut short.
    assert.ok(exitedAt - signalledAt >= 1_500, `npm returned after ${exitedAt - signalledAt} ms`);
  } finally {
    cleanUp(run);
  }
});

test('Ctrl-C (SIGINT to the process group) drains once, not as a second impatient signal', async () => {
  const run = await npmStart();
  try {
    await run.waitForLog('app started');
    assert.ok(run.npm.pid !== undefined);
    process.kill(-run.npm.pid, 'SIGINT');
    const { code } = await run.exited;

    assert.equal(code, 0);
    assert.ok(at(run, 'shutdown finished') !== undefined, 'the app drained');
    assert.equal(at(run, 'second signal: exiting now'), undefined);
  } finally {
    cleanUp(run);
  }
});

test("npm start exits with the app's exit code", async () => {
  // An invalid setting: the app exits with EX_CONFIG (78) before it starts.
  const run = await npmStart({ HTTP_PORT: 'eighty' });
  try {
    const { code } = await run.exited;
    assert.equal(code, 78);
  } finally {
    cleanUp(run);
  }
});

test('npm start (dist/, telemetry preloaded) exports the spans of a gRPC call and its queries', async () => {
  const receiver = await startOtlpReceiver();
  const run = await npmStart({
    TELEMETRY_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    SHUTDOWN_DRAIN_DELAY_MS: '0',
  });
  try {
    await run.waitForLog('app started');
    const auth = grpcClient(run.grpcAddress, AuthService);
    const credentials = { username: uniqueName('npmstart'), password: 'long enough password' };
    const registered = await unary(auth, 'register', credentials);
    auth.close();
    assert.equal(registered.error, null);
    run.npm.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);

    // Stopping flushed the spans: the call's server span, with pg's spans under it.
    const call = receiver.spans.find((span) => span.name === 'trading.v1.AuthService/Register');
    assert.ok(call, receiver.spans.map((span) => span.name).join(', '));
    assert.ok(
      receiver.spans.some(
        (span) =>
          span.scope === '@opentelemetry/instrumentation-pg' && span.parentSpanId === call.spanId,
      ),
    );
  } finally {
    cleanUp(run);
    await receiver.close();
  }
});

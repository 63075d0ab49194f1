import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { DomainError } from '../../../src/domain/errors.js';
import { createDependencyPolicy } from '../../../src/adapters/resilience/dependency-policy.js';
import type { DependencyPolicyOptions } from '../../../src/adapters/resilience/dependency-policy.js';
import { captureLogger, metricValue, silentLogger } from './support/observability.js';

const boom = (): Promise<never> => Promise.reject(new Error('connection refused'));
const ok = (): Promise<string> => Promise.resolve('ok');

function setup(overrides: Partial<DependencyPolicyOptions> = {}) {
  const registry = new Registry();
  const policy = createDependencyPolicy({
    dependency: 'postgres',
    timeoutMs: 1000,
    breaker: { threshold: 3, halfOpenAfterMs: 20 },
    logger: silentLogger(),
    registry,
    ...overrides,
  });
  return { registry, policy };
}

/** cockatiel reads Date.now() to decide when an open circuit may half-open; we move it by hand. */
const freezeClock = (t: TestContext): ((ms: number) => void) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  return (ms) => {
    t.mock.timers.tick(ms);
  };
};

async function failTimes(policy: ReturnType<typeof setup>['policy'], times: number): Promise<void> {
  for (let i = 0; i < times; i++) await assert.rejects(policy.execute(boom));
}

describe('dependency policy: circuit breaker', () => {
  test('opens after the threshold of consecutive failures and rejects without calling the dependency', async (t) => {
    freezeClock(t);
    const { policy, registry } = setup();
    await failTimes(policy, 3);
    let calls = 0;

    const rejection = policy.execute(() => {
      calls++;
      return ok();
    });

    await assert.rejects(rejection, (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, 'unavailable');
      assert.equal(error.dependency, 'postgres');
      assert.equal(error.retryAfterMs, 20);
      assert.match(error.message, /^postgres is unavailable \(circuit open\); retry in ~1s$/);
      return true;
    });
    assert.equal(calls, 0);
    assert.equal(policy.state(), 'open');
    assert.equal(
      await metricValue(registry, 'circuit_breaker_state', { dependency: 'postgres' }),
      2,
    );
  });

  test('a success resets the streak of failures', async () => {
    const { policy } = setup();
    await failTimes(policy, 2);
    await policy.execute(ok);
    await failTimes(policy, 2);

    assert.equal(policy.state(), 'closed');
  });

  test('half-opens after the delay and closes when the trial call succeeds', async (t) => {
    const advance = freezeClock(t);
    const { policy, registry } = setup();
    await failTimes(policy, 3);
    advance(20);

    assert.equal(await policy.execute(ok), 'ok');

    assert.equal(policy.state(), 'closed');
    assert.equal(
      await metricValue(registry, 'circuit_breaker_state', { dependency: 'postgres' }),
      0,
    );
    const transitions = async (from: string, to: string) =>
      metricValue(registry, 'circuit_breaker_transitions_total', {
        dependency: 'postgres',
        from,
        to,
      });
    assert.equal(await transitions('closed', 'open'), 1);
    assert.equal(await transitions('open', 'half-open'), 1);
    assert.equal(await transitions('half-open', 'closed'), 1);
  });

  test('reopens when the trial call fails, and the retry delay starts again', async (t) => {
    const advance = freezeClock(t);
    const { policy } = setup();
    await failTimes(policy, 3);
    advance(25);

    await assert.rejects(policy.execute(boom), { code: 'unavailable' });

    assert.equal(policy.state(), 'open');
    await assert.rejects(policy.execute(ok), { code: 'unavailable', retryAfterMs: 20 });
  });

  test('still rejects before the half-open delay has passed', async (t) => {
    const advance = freezeClock(t);
    const { policy } = setup();
    await failTimes(policy, 3);
    advance(15);

    await assert.rejects(policy.execute(ok), { code: 'unavailable', retryAfterMs: 5 });
  });

  test('logs every transition with a stable message, at error when it opens', async (t) => {
    const advance = freezeClock(t);
    const { logger, lines } = captureLogger();
    const { policy } = setup({ logger });
    await failTimes(policy, 3);
    advance(20);
    await policy.execute(ok);

    const transitions = lines.filter((l) => l.msg === 'circuit breaker state changed');
    assert.deepEqual(
      transitions.map((l) => [l.level, l.dependency, l.from, l.to]),
      [
        [50, 'postgres', 'closed', 'open'],
        [40, 'postgres', 'open', 'half-open'],
        [40, 'postgres', 'half-open', 'closed'],
      ],
    );
  });

  test('errors that are not dependency failures pass through and never open the circuit', async () => {
    const notAFailure = new Error('duplicate key');
    const { policy } = setup({ isFailure: (error) => error !== notAFailure });

    for (let i = 0; i < 5; i++) {
      await assert.rejects(
        policy.execute(() => Promise.reject(notAFailure)),
        (error) => error === notAFailure,
      );
    }
    await assert.rejects(
      policy.execute(() => Promise.reject(new DomainError('not_found', 'no such order'))),
      { code: 'not_found' },
    );

    assert.equal(policy.state(), 'closed');
  });

  test('wraps a dependency failure as unavailable, naming the dependency and keeping the cause', async () => {
    const cause = new Error('ECONNRESET');
    const { policy } = setup();

    await assert.rejects(
      policy.execute(() => Promise.reject(cause)),
      (error: unknown) =>
        error instanceof DomainError &&
        error.code === 'unavailable' &&
        error.dependency === 'postgres' &&
        error.cause === cause,
    );
  });
});

describe('dependency policy: timeout', () => {
  test('answers unavailable at the deadline and aborts the signal given to the call', async () => {
    const { policy, registry } = setup({ timeoutMs: 20 });
    let signalled: AbortSignal | undefined;

    await assert.rejects(
      policy.execute((signal) => {
        signalled = signal;
        return new Promise<never>(() => undefined);
      }),
      (error: unknown) =>
        error instanceof DomainError &&
        error.code === 'unavailable' &&
        error.dependency === 'postgres' &&
        error.message.includes('did not answer within 20 ms'),
    );

    assert.equal(signalled?.aborted, true);
    const timeouts = await metricValue(
      registry,
      'dependency_request_seconds',
      { dependency: 'postgres', outcome: 'timeout' },
      'dependency_request_seconds_count',
    );
    assert.equal(timeouts, 1);
  });

  test('does not abort the signal of a call that finished in time', async () => {
    const { policy } = setup();
    let signalled: AbortSignal | undefined;

    await policy.execute((signal) => {
      signalled = signal;
      return ok();
    });

    assert.equal(signalled?.aborted, false);
  });
});

describe('dependency policy: retries', () => {
  const retry = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 };

  test('retries an idempotent call until it succeeds', async () => {
    const { policy, registry } = setup({ retry });
    let calls = 0;

    const result = await policy.execute(() => (++calls < 3 ? boom() : ok()), { idempotent: true });

    assert.equal(result, 'ok');
    assert.equal(calls, 3);
    assert.equal(await metricValue(registry, 'retries_total', { dependency: 'postgres' }), 2);
  });

  test('gives up after maxAttempts attempts in total', async () => {
    const { policy } = setup({ retry, breaker: { threshold: 10, halfOpenAfterMs: 20 } });
    let calls = 0;

    await assert.rejects(
      policy.execute(
        () => {
          calls++;
          return boom();
        },
        { idempotent: true },
      ),
      { code: 'unavailable' },
    );

    assert.equal(calls, 3);
  });

  test('never retries a call that is not marked idempotent', async () => {
    const { policy, registry } = setup({ retry });
    let calls = 0;

    await assert.rejects(
      policy.execute(() => {
        calls++;
        return boom();
      }),
      { code: 'unavailable' },
    );

    assert.equal(calls, 1);
    assert.equal(await metricValue(registry, 'retries_total', { dependency: 'postgres' }), 0);
  });

  test('never retries an error that is not a dependency failure', async () => {
    const { policy } = setup({ retry });
    let calls = 0;

    await assert.rejects(
      policy.execute(
        () => {
          calls++;
          return Promise.reject(new DomainError('already_exists', 'username taken'));
        },
        { idempotent: true },
      ),
      { code: 'already_exists' },
    );

    assert.equal(calls, 1);
  });

  test('stops retrying once the circuit opens', async () => {
    const { policy } = setup({
      retry: { maxAttempts: 5, initialDelayMs: 1, maxDelayMs: 2 },
      breaker: { threshold: 2, halfOpenAfterMs: 10_000 },
    });
    let calls = 0;

    await assert.rejects(
      policy.execute(
        () => {
          calls++;
          return boom();
        },
        { idempotent: true },
      ),
      (error: unknown) => error instanceof DomainError && error.message.includes('circuit open'),
    );

    assert.equal(calls, 2);
  });
});

describe('dependency policy: metrics', () => {
  test('counts each attempt by outcome', async () => {
    const { policy, registry } = setup({ breaker: { threshold: 1, halfOpenAfterMs: 10_000 } });
    await policy.execute(ok);
    await assert.rejects(policy.execute(boom));
    await assert.rejects(policy.execute(ok));

    const count = (outcome: string) =>
      metricValue(
        registry,
        'dependency_request_seconds',
        { dependency: 'postgres', outcome },
        'dependency_request_seconds_count',
      );
    assert.equal(await count('success'), 1);
    assert.equal(await count('error'), 1);
    assert.equal(await count('rejected'), 1);
  });

  test('two policies can share one registry, each with its own series', async () => {
    const registry = new Registry();
    const common = { timeoutMs: 100, breaker: { threshold: 1, halfOpenAfterMs: 10_000 } };
    const logger = silentLogger();
    const postgres = createDependencyPolicy({
      ...common,
      dependency: 'postgres',
      logger,
      registry,
    });
    const redis = createDependencyPolicy({ ...common, dependency: 'redis', logger, registry });

    await assert.rejects(redis.execute(boom));

    assert.equal(postgres.state(), 'closed');
    assert.equal(
      await metricValue(registry, 'circuit_breaker_state', { dependency: 'postgres' }),
      0,
    );
    assert.equal(await metricValue(registry, 'circuit_breaker_state', { dependency: 'redis' }), 2);
  });
});

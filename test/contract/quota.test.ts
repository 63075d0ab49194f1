import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MemoryQuotaCounter } from '../../src/adapters/rate-limit/quota.memory.js';
import { RedisQuotaCounter } from '../../src/adapters/rate-limit/quota.redis.js';
import { sleep } from '../unit/adapters/support/observability.js';
import { quotaContract } from './quota.contract.js';
import { RedisTestContext } from './support/redis.js';

quotaContract('memory', {
  setup: () => Promise.resolve(),
  subject({ idleTtlMs }) {
    let now = 1_700_000_000_000;
    return Promise.resolve({
      quota: new MemoryQuotaCounter({ now: () => now, idleTtlMs }),
      advance: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    });
  },
  teardown: () => Promise.resolve(),
});

{
  const redis = new RedisTestContext();
  let subjects = 0;
  quotaContract('redis', {
    setup: () => Promise.resolve(),
    async subject({ idleTtlMs }) {
      const { connection, policy } = await redis.connect();
      const quota = new RedisQuotaCounter({
        redis: connection.client,
        policy,
        idleTtlMs,
        keyPrefix: `quota:${++subjects}:`,
      });
      return { quota, advance: sleep };
    },
    teardown: () => redis.cleanup(),
  });
}

describe('RedisQuotaCounter across pods', () => {
  const redis = new RedisTestContext();
  after(() => redis.cleanup());

  test('two independent connections share one quota', async () => {
    const podA = await redis.connect();
    const podB = await redis.connect();
    const quotaA = new RedisQuotaCounter({ redis: podA.connection.client, policy: podA.policy });
    const quotaB = new RedisQuotaCounter({ redis: podB.connection.client, policy: podB.policy });

    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? quotaA : quotaB).acquire('u1', 3)),
    );

    assert.equal(results.filter((r) => r.acquired).length, 3);
    assert.equal(await quotaB.current('u1'), 3);
  });
});

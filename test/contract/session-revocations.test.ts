import { after } from 'node:test';
import { MemorySessionRevocations } from '../../src/adapters/auth/session-revocations.memory.js';
import { RedisSessionRevocations } from '../../src/adapters/auth/session-revocations.redis.js';
import { sessionRevocationsContract } from './session-revocations.contract.js';
import { RedisTestContext } from './support/redis.js';

sessionRevocationsContract('memory', {
  subject: () => Promise.resolve(new MemorySessionRevocations()),
  teardown: () => Promise.resolve(),
});

{
  const redis = new RedisTestContext();
  after(() => redis.cleanup());
  let subjects = 0;
  sessionRevocationsContract('redis', {
    async subject() {
      const { connection, policy } = await redis.connect();
      return new RedisSessionRevocations({
        redis: connection.client,
        policy,
        retainMs: 900_000,
        key: `revoked${++subjects}`,
      });
    },
    teardown: () => Promise.resolve(),
  });
}

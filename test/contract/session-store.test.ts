import { after } from 'node:test';
import { MemorySessionStore } from '../../src/adapters/streams/session-store.memory.js';
import { RedisSessionStore } from '../../src/adapters/streams/session-store.redis.js';
import { sessionStoreContract } from './session-store.contract.js';
import { RedisTestContext } from './support/redis.js';

{
  let now = 0;
  sessionStoreContract('memory', {
    subject: () => Promise.resolve(new MemorySessionStore(() => now)),
    advance: (seconds) => {
      now += seconds * 1_000;
      return Promise.resolve();
    },
    teardown: () => Promise.resolve(),
  });
}

{
  const redis = new RedisTestContext();
  after(() => redis.cleanup());
  let subjects = 0;
  sessionStoreContract('redis', {
    async subject() {
      const { connection, policy } = await redis.connect();
      return new RedisSessionStore({
        redis: connection.client,
        policy,
        keyPrefix: `sessions${++subjects}:`,
      });
    },
    // Redis keeps real time: the one expiry test waits it out.
    advance: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1_000)),
    teardown: () => Promise.resolve(),
  });
}

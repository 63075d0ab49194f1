import { MemoryStreamLog } from '../../src/adapters/stream-log/stream-log.memory.js';
import { RedisStreamLog } from '../../src/adapters/stream-log/stream-log.redis.js';
import { streamLogContract } from './stream-log.contract.js';
import { RedisTestContext } from './support/redis.js';

streamLogContract('memory', {
  subject: ({ retention }) => Promise.resolve(new MemoryStreamLog({ retention })),
  teardown: () => Promise.resolve(),
});

{
  const redis = new RedisTestContext();
  let subjects = 0;
  streamLogContract('redis', {
    async subject({ retention }) {
      const { connection, policy } = await redis.connect();
      return new RedisStreamLog({
        redis: connection.client,
        policy,
        retention,
        keyPrefix: `log${++subjects}:`,
      });
    },
    teardown: () => redis.cleanup(),
  });
}

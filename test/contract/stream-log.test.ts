import assert from 'node:assert/strict';
import { after, test } from 'node:test';
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
  after(() => redis.cleanup());
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
    teardown: () => Promise.resolve(), // the file's `after`, once the Redis-only test ran
  });

  test('redis: an entry Redis refuses for another reason than a repeat fails the append', async () => {
    const { connection, policy } = await redis.connect();
    const log = new RedisStreamLog({ redis: connection.client, policy, keyPrefix: 'wrong:' });
    await connection.client.set('wrong:taken', 'not a stream');

    await assert.rejects(
      log.append([
        { stream: 'free', seq: 1, payload: '{}' },
        { stream: 'taken', seq: 1, payload: '{}' },
      ]),
      /WRONGTYPE/,
    );
    assert.equal(await log.lastSeq('free'), 1);
  });
}

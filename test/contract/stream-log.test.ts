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
  const logs: RedisStreamLog[] = [];
  after(async () => {
    await Promise.all(logs.map((log) => log.close()));
    await redis.cleanup();
  });
  let subjects = 0;
  streamLogContract('redis', {
    async subject({ retention }) {
      const { connection, policy } = await redis.connect();
      const log = new RedisStreamLog({
        redis: connection.client,
        policy,
        retention,
        keyPrefix: `log${++subjects}:`,
      });
      logs.push(log);
      return log;
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

{
  const redis = new RedisTestContext();
  after(() => redis.cleanup());

  test('redis: a wiped log starts a new epoch', async () => {
    const { connection, policy } = await redis.connect();
    let now = 1_000;
    const log = new RedisStreamLog({
      redis: connection.client,
      policy,
      keyPrefix: 'epoch:',
      now: () => now,
    });
    assert.equal(await log.epoch(), 1_000);

    now = 2_000;
    await connection.client.del('epoch:epoch');

    assert.equal(await log.epoch(), 2_000);
    await log.close();
  });

  test('redis: a stream tailed while the reader blocks on others is read at once', async () => {
    const { connection, policy } = await redis.connect();
    const log = new RedisStreamLog({
      redis: connection.client,
      policy,
      keyPrefix: 'block:',
      tailBlockMs: 30_000,
    });
    const stopA = await log.tail('a', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the reader now blocks on `a`
    const seen: number[] = [];
    const stopB = await log.tail('b', (entry) => seen.push(entry.seq));
    const started = Date.now();

    await log.append([{ stream: 'b', seq: 1, payload: '{}' }]);
    while (seen.length === 0 && Date.now() - started < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    assert.deepEqual(seen, [1]);
    assert.ok(Date.now() - started < 1_000, `read after ${Date.now() - started} ms`);
    stopA();
    stopB();
    await log.close();
  });
}

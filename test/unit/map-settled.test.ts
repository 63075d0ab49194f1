import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapSettled } from '../../src/transport/rpc/map-settled.js';

/** A promise with its resolvers, to settle work in a chosen order. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A source that counts how many items were read from it. */
function counted<T>(items: readonly T[]) {
  const state = { read: 0 };
  async function* source() {
    for (const item of items) {
      await Promise.resolve(); // a source that reads asynchronously, as a network stream does
      state.read += 1;
      yield item;
    }
  }
  return { source: source(), state };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('yields each result as it settles, not in source order', async () => {
  const work = [deferred<string>(), deferred<string>(), deferred<string>()];
  const results = mapSettled(counted([0, 1, 2]).source, 3, (i: number) => work[i]!.promise);
  const collected: string[] = [];
  const done = (async () => {
    for await (const result of results) collected.push(result);
  })();

  await tick();
  work[2]!.resolve('c');
  await tick();
  work[0]!.resolve('a');
  await tick();
  work[1]!.resolve('b');
  await done;

  assert.deepEqual(collected, ['c', 'a', 'b']);
});

test('reads no further while `limit` items are running', async () => {
  const work = Array.from({ length: 5 }, () => deferred<number>());
  const { source, state } = counted([0, 1, 2, 3, 4]);
  const results = mapSettled(source, 2, (i: number) => work[i]!.promise);
  const collected: number[] = [];
  const done = (async () => {
    for await (const result of results) collected.push(result);
  })();

  await tick();
  assert.equal(state.read, 2);
  work[1]!.resolve(1);
  await tick();
  assert.equal(state.read, 3);
  for (const [i, w] of work.entries()) w.resolve(i);
  await done;

  assert.deepEqual(
    collected.sort((a, b) => a - b),
    [0, 1, 2, 3, 4],
  );
});

test('when the source fails, running items are still answered, then the error is thrown', async () => {
  const slow = deferred<string>();
  async function* failing() {
    yield 'first';
    await tick();
    throw new Error('malformed message');
  }
  const collected: string[] = [];
  const consumed = (async () => {
    for await (const result of mapSettled(failing(), 4, () => slow.promise)) {
      collected.push(result);
    }
  })();
  const outcome = assert.rejects(consumed, /malformed message/);
  await tick();
  await tick();
  slow.resolve('answer to first');

  await outcome;
  assert.deepEqual(collected, ['answer to first']);
});

test('when an item fails, reading stops, the others are answered, then its error is thrown', async () => {
  const { source, state } = counted([0, 1, 2, 3]);
  const work = [deferred<number>(), deferred<number>()];
  const collected: number[] = [];
  const consumed = (async () => {
    for await (const result of mapSettled(source, 2, (i: number) => work[i]!.promise)) {
      collected.push(result);
    }
  })();
  const outcome = assert.rejects(consumed, /bug/);
  await tick();
  assert.equal(state.read, 2);
  work[0]!.reject(new Error('bug'));
  await tick();
  work[1]!.resolve(1);

  await outcome;
  assert.deepEqual(collected, [1]);
  assert.equal(state.read, 2, 'nothing read after the failure');
});

test('a consumer that stops early releases the source', async () => {
  let released = false;
  async function* endless() {
    try {
      for (let i = 0; ; i += 1) yield await Promise.resolve(i);
    } finally {
      released = true;
    }
  }
  for await (const result of mapSettled(endless(), 1, (i: number) => Promise.resolve(i))) {
    if (result === 2) break;
  }
  await tick();

  assert.equal(released, true);
});

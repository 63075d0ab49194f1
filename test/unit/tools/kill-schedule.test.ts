import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killSchedule } from '../../../src/tools/chaos/kill-schedule.js';

const options = {
  seed: 7,
  roles: ['api', 'stream', 'engine'],
  kills: 50,
  durationMs: 300_000,
  sigkillShare: 0.5,
};

test('the same seed gives the same kills; another seed, others', () => {
  assert.deepEqual(killSchedule(options), killSchedule(options));
  assert.notDeepEqual(killSchedule(options), killSchedule({ ...options, seed: 8 }));
});

test('kills are in order, inside the first nine tenths of the run, of both signals', () => {
  const kills = killSchedule(options);
  assert.equal(kills.length, 50);
  for (let i = 1; i < kills.length; i += 1) assert.ok(kills[i]!.atMs >= kills[i - 1]!.atMs);
  assert.ok(kills[0]!.atMs >= 0);
  assert.ok(kills.at(-1)!.atMs <= 270_000);
  const sigkills = kills.filter((kill) => kill.signal === 'SIGKILL').length;
  assert.ok(sigkills > 10 && sigkills < 40, `${sigkills} SIGKILLs`);
  assert.ok(kills.every((kill) => kill.pick >= 0 && kill.pick < 1));
});

test('no kills asked, none planned', () => {
  assert.deepEqual(killSchedule({ ...options, kills: 0 }), []);
});

test('the roles take turns: any three kills in a row hit each role once', () => {
  const kills = killSchedule(options);
  for (let i = 0; i + 3 <= kills.length; i += 1) {
    assert.deepEqual(
      new Set(kills.slice(i, i + 3).map((kill) => kill.role)),
      new Set(['api', 'stream', 'engine']),
    );
  }
});

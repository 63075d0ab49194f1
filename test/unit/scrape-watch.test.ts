import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import {
  lingerForScrapeStep,
  ScrapeWatch,
  type LingerOutcome,
  type LingerSleep,
} from '../../src/lifecycle/scrape-watch.js';
import { LogCapture } from '../support/app.js';

/** A bound the test ends by hand (`end()`), and which records what it was asked to wait. */
function manualBound() {
  const asked: number[] = [];
  let end: (() => void) | undefined;
  let aborted = false;
  const sleep: LingerSleep = (ms, signal) => {
    asked.push(ms);
    return new Promise((resolve) => {
      end = () => {
        resolve(undefined);
      };
      signal.addEventListener('abort', () => {
        aborted = true;
        resolve(undefined);
      });
    });
  };
  return { sleep, asked, end: () => end?.(), aborted: () => aborted };
}

/** The outcome once settled, or 'waiting' if it has not settled after a turn of the loop. */
async function settled(outcome: Promise<LingerOutcome>): Promise<LingerOutcome | 'waiting'> {
  let result: LingerOutcome | 'waiting' = 'waiting';
  void outcome.then((value) => {
    result = value;
  });
  await turn();
  return result;
}

test('a scrape that begins after the wait and is answered ends it', async () => {
  const scrapes = new ScrapeWatch();
  const bound = manualBound();
  const waiting = scrapes.next(30_000, bound.sleep);

  const answered = scrapes.begin();
  assert.equal(await settled(waiting), 'waiting', 'not before its answer is sent');
  answered();

  assert.equal(await waiting, 'scraped');
  assert.deepEqual(bound.asked, [30_000]);
  assert.equal(bound.aborted(), true, 'the bound is cancelled');
});

test('a scrape already under way when the wait begins does not end it', async () => {
  const scrapes = new ScrapeWatch();
  const bound = manualBound();
  // It may have read the registry before the values the wait is for were set.
  const earlier = scrapes.begin();
  const waiting = scrapes.next(30_000, bound.sleep);
  earlier();
  assert.equal(await settled(waiting), 'waiting');

  scrapes.begin()();
  assert.equal(await waiting, 'scraped');
});

test('a scrape never answered (cut short) does not end it, and the bound does', async () => {
  const scrapes = new ScrapeWatch();
  const bound = manualBound();
  const waiting = scrapes.next(500, bound.sleep);
  scrapes.begin(); // never answered
  assert.equal(await settled(waiting), 'waiting');

  bound.end();
  assert.equal(await waiting, 'no scrape');
});

test('with nothing scraping, the wait ends at its bound', async () => {
  const scrapes = new ScrapeWatch();
  // The real timer, with a short bound.
  assert.equal(await scrapes.next(5), 'no scrape');
});

test('the linger step waits for the next scrape and logs how it ended', async () => {
  const logs = new LogCapture();
  const scrapes = new ScrapeWatch();
  const bound = manualBound();
  const step = lingerForScrapeStep({
    scrapes,
    maxMs: 20_000,
    logger: logs.logger(),
    sleep: bound.sleep,
  });
  assert.equal(step.name, 'last scrape');

  const running = step.run();
  await turn();
  scrapes.begin()();
  await running;
  assert.ok(logs.find('last scrape awaited', { outcome: 'scraped', max_ms: 20_000 }));

  const unscraped = step.run();
  await turn();
  bound.end();
  await unscraped;
  assert.ok(logs.find('last scrape awaited', { outcome: 'no scrape', max_ms: 20_000 }));
});

test('one scrape ends every wait under way', async () => {
  const scrapes = new ScrapeWatch();
  const first = scrapes.next(30_000, manualBound().sleep);
  const second = scrapes.next(30_000, manualBound().sleep);
  scrapes.begin()();
  assert.deepEqual(await Promise.all([first, second]), ['scraped', 'scraped']);
});

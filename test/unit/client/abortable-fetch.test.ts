import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, test } from 'node:test';
import { abortableFetch } from '../../../src/client/abortable-fetch.js';

const METHOD_URL = 'http://platform.test/trading.v1.MarketDataService/Subscribe';

/** A response body the test writes, as a server streams one, and how its reader ended it. */
class ServerBody {
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  cancelled = false;
  cancelledWith: unknown;
  readonly stream = new ReadableStream<Uint8Array>({
    start: (controller) => {
      this.#controller = controller;
    },
    cancel: (reason) => {
      this.cancelled = true;
      this.cancelledWith = reason;
    },
  });

  send(...bytes: number[]): void {
    this.#controller?.enqueue(new Uint8Array(bytes));
  }

  end(): void {
    this.#controller?.close();
  }
}

const platformFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = platformFetch;
});

/**
 * Answers with `response` and ignores the signal, as Node's fetch does once it has lost the
 * request (its abort is held weakly): only what `abortableFetch` does can end the body.
 */
function answerIgnoringSignal(response: Response | Promise<Response>): void {
  globalThis.fetch = () => Promise.resolve(response);
}

function bodyOf(response: Response): ReadableStream<Uint8Array> {
  assert.ok(response.body, 'the response has a body');
  return response.body;
}

test('an abort fails the pending read with its reason and cancels the body fetch ignored it for', async () => {
  const body = new ServerBody();
  answerIgnoringSignal(
    new Response(body.stream, { headers: { 'content-type': 'application/grpc-web+proto' } }),
  );
  const controller = new AbortController();
  const response = await abortableFetch(METHOD_URL, { method: 'POST', signal: controller.signal });
  const reader = bodyOf(response).getReader();
  body.send(1, 2);
  assert.deepEqual((await reader.read()).value, new Uint8Array([1, 2]));

  const pending = reader.read();
  const reason = new Error('the subscriber stopped');
  controller.abort(reason);

  await assert.rejects(pending, (error) => error === reason);
  assert.equal(body.cancelledWith, reason);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/grpc-web+proto');
});

test('a body read to its end lets go of the signal, and a later abort touches nothing', async () => {
  const body = new ServerBody();
  answerIgnoringSignal(new Response(body.stream));
  const controller = new AbortController();
  const response = await abortableFetch(METHOD_URL, { signal: controller.signal });
  body.send(7);
  body.end();

  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), new Uint8Array([7]));
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  controller.abort();
  assert.equal(body.cancelled, false);
});

test('an abort while the response is awaited rejects at once, and the body that comes later is cancelled', async () => {
  let answer: (response: Response) => void = () => undefined;
  globalThis.fetch = () =>
    new Promise((resolve) => {
      answer = resolve;
    });
  const controller = new AbortController();
  const fetching = abortableFetch(METHOD_URL, { signal: controller.signal });
  const reason = new Error('closed before the answer');

  controller.abort(reason);
  await assert.rejects(fetching, (error) => error === reason);

  const body = new ServerBody();
  answer(new Response(body.stream));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(body.cancelledWith, reason);
});

test('a signal aborted before the call fetches nothing', async () => {
  let fetched = false;
  globalThis.fetch = () => {
    fetched = true;
    return Promise.resolve(new Response('never'));
  };
  const reason = new Error('already stopped');

  await assert.rejects(
    abortableFetch(METHOD_URL, { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  assert.equal(fetched, false);
});

test('a failed fetch rejects with its error and lets go of the signal', async () => {
  const failure = new TypeError('fetch failed');
  globalThis.fetch = () => Promise.reject(failure);
  const controller = new AbortController();

  await assert.rejects(
    abortableFetch(METHOD_URL, { signal: controller.signal }),
    (error) => error === failure,
  );
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test("without a signal the response is fetch's own", async () => {
  const response = new Response('ok');
  answerIgnoringSignal(response);

  assert.equal(await abortableFetch(METHOD_URL), response);
});

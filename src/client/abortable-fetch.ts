const ignore = () => undefined;

/**
 * `fetch` for connect-web's transports, whose `init.signal` ends a response for certain, body
 * included: aborting it cancels the body (which closes the connection) and fails its reader
 * with the signal's reason, as an abort does where fetch keeps to the standard.
 *
 * Node 20's fetch (undici 6) follows a request's signal through a weak reference to the
 * `Request` it makes; once that is garbage collected an abort no longer reaches the response,
 * so a stopped server stream went on receiving (docs/library-workarounds.md). Here the signal's
 * listener holds the body's reader strongly, for as long as the caller can abort. Browsers
 * need none of it and behave the same with it.
 */
export const abortableFetch: typeof globalThis.fetch = async (input, init) => {
  const signal = init?.signal;
  // Read at each call, as connect-web does, so a page or test that replaces fetch is followed.
  if (signal == null) return globalThis.fetch(input, init);
  signal.throwIfAborted();
  const fetching = globalThis.fetch(input, init);
  // Before the response too: that abort is just as weakly held while the request waits.
  const response = await untilAborted(fetching, signal);
  if (response === undefined || signal.aborted) {
    // The fetch may answer all the same, its own abort lost: that body must end too.
    fetching.then((late) => late.body?.cancel(signal.reason), ignore).catch(ignore);
    throw signal.reason;
  }
  return endingOnAbort(response, signal);
};

/** The fetch's response, or undefined as soon as `signal` aborts. */
async function untilAborted(
  fetching: Promise<Response>,
  signal: AbortSignal,
): Promise<Response | undefined> {
  let release: () => void = ignore;
  const aborted = new Promise<undefined>((resolve) => {
    const abort = () => {
      resolve(undefined);
    };
    signal.addEventListener('abort', abort, { once: true });
    release = () => {
      signal.removeEventListener('abort', abort);
    };
  });
  try {
    return await Promise.race([fetching, aborted]);
  } finally {
    release();
  }
}

/** The same response, its body read through a stream that `signal` ends. */
function endingOnAbort(response: Response, signal: AbortSignal): Response {
  // Node's types leave the chunks untyped; fetch's are bytes.
  const source: ReadableStream<Uint8Array> | null = response.body;
  if (source === null) return response;
  const reader = source.getReader();
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const abort = () => {
    // Cancelling the source ends the HTTP response (undici destroys its connection); erroring
    // this stream fails a pending read with the reason, as the abort of a fetch does.
    reader.cancel(signal.reason).catch(ignore);
    controller?.error(signal.reason);
  };
  const release = () => {
    signal.removeEventListener('abort', abort);
  };
  signal.addEventListener('abort', abort, { once: true });
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        const { done, value } = await reader.read().catch((error: unknown) => {
          release();
          throw error;
        });
        if (signal.aborted) return; // `abort` has already failed this stream
        if (done) {
          release();
          c.close();
        } else {
          c.enqueue(value);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    },
    // Read from the network only when the caller reads, as the original body does.
    { highWaterMark: 0 },
  );
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

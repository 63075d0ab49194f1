/**
 * Runs `fn` on the items of `source`, at most `limit` at once, and yields each result as soon
 * as it is ready: not in source order, so one slow item holds up no other answer.
 *
 * Reading stops while `limit` items are running: a fast producer is held back (over gRPC, by
 * HTTP/2 flow control) instead of buffered without bound. If `source` throws or `fn` rejects,
 * nothing more is read, the items already running finish and their results are yielded, and
 * then the error is thrown: work that was started is always answered.
 *
 * p-map's `pMapIterable(…, { preserveOrder: false })` yields in the same order, but throws at
 * the first error without answering what is running, and wrapped to answer it, it was slower
 * on the order-entry path (docs/benchmarks.md, "Durable order placement").
 */
export async function* mapSettled<T, R>(
  source: AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  const ready: R[] = [];
  let running = 0;
  /** Nothing more is read: the source is done or failed, or an item failed. */
  let ended = false;
  let sourceDone = false;
  let failure: { error: unknown } | undefined;
  let pulling: Promise<IteratorResult<T>> | undefined;
  let settled: () => void = () => undefined;
  let anySettled = new Promise<void>((resolve) => {
    settled = resolve;
  });
  const onSettled = () => {
    running -= 1;
    settled();
    anySettled = new Promise<void>((resolve) => {
      settled = resolve;
    });
  };
  const fail = (error: unknown) => {
    failure ??= { error };
    ended = true;
  };

  try {
    for (;;) {
      while (ready.length > 0) yield ready.shift() as R;
      if (ended && running === 0) break;
      if (ended || running >= limit) {
        await anySettled;
        continue;
      }
      if (pulling === undefined) {
        pulling = iterator.next();
        pulling.catch(() => undefined); // raced below; never an unhandled rejection
      }
      const next = await Promise.race([pulling, anySettled.then(() => undefined)]).catch(
        (error: unknown) => {
          pulling = undefined;
          sourceDone = true;
          fail(error);
          return undefined;
        },
      );
      if (next === undefined) continue; // an item settled (or the source failed) first
      pulling = undefined;
      if (next.done === true) {
        sourceDone = true;
        ended = true;
        continue;
      }
      running += 1;
      fn(next.value).then(
        (result) => {
          ready.push(result);
          onSettled();
        },
        (error: unknown) => {
          fail(error);
          onSettled();
        },
      );
    }
  } finally {
    // Stopped early (by the consumer or a failed item): release the source. Not awaited, since
    // a read may still be pending on it.
    if (!sourceDone) iterator.return?.().catch(() => undefined);
  }
  if (failure !== undefined) throw failure.error;
}

import type { DescMethod, DescService } from '@bufbuild/protobuf';
import type { ContextValues, HandlerContext } from '@connectrpc/connect';
import { Metadata } from '@grpc/grpc-js';

/** What a handler context needs from a grpc-js server call. */
export interface GrpcCall {
  readonly metadata: Metadata;
  getDeadline(): Date | number;
  once(event: 'cancelled', listener: () => void): unknown;
}

export interface GrpcHandlerContextInit {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly call: GrpcCall;
  readonly values: ContextValues;
  /** Aborted when the server shuts down. */
  readonly shutdownSignal?: AbortSignal | undefined;
}

const CANCELLED = new Error('the client cancelled the call');
const DEADLINE = new Error('the call passed its deadline');
const FINISHED = new Error('the call has finished');

/**
 * Connect's `HandlerContext` for a grpc-js call, built lazily. Connect's own
 * `createHandlerContext` makes three AbortControllers, a deadline timer, a shutdown listener
 * and four `Headers` for every call; a unary handler rarely reads any of them, and they were a
 * large share of the server's CPU per order (docs/benchmarks.md, "Durable order placement").
 * Here each is made on first use:
 * `signal` is linked to cancellation, the deadline and server shutdown only when a handler
 * asks for it, and headers and trailers exist only when touched.
 *
 * `release()` must run when the call ends: it aborts the signal (if one was made), which
 * clears its timer and its listener on the shutdown signal.
 */
export class GrpcHandlerContext implements HandlerContext {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly values: ContextValues;
  readonly protocolName = 'grpc';
  readonly requestMethod = 'POST';
  readonly #call: GrpcCall;
  readonly #shutdownSignal: AbortSignal | undefined;
  readonly #deadlineMs: number | undefined;
  #cancelled = false;
  #released = false;
  #abort: AbortController | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(init: GrpcHandlerContextInit) {
    this.service = init.service;
    this.method = init.method;
    this.values = init.values;
    this.#call = init.call;
    this.#shutdownSignal = init.shutdownSignal;
    const deadline = init.call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    this.#deadlineMs = Number.isFinite(ms) ? ms : undefined;
    init.call.once('cancelled', () => {
      this.#cancelled = true;
      this.#abort?.abort(CANCELLED);
    });
  }

  /** The client cancelled the call (or it passed its deadline): nobody reads any more. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** The server is shutting down: a streaming call should end so its client reconnects. */
  get shuttingDown(): boolean {
    return this.#shutdownSignal?.aborted === true;
  }

  get url(): string {
    return `/${this.service.typeName}/${this.method.name}`;
  }

  timeoutMs = (): number | undefined =>
    this.#deadlineMs === undefined ? undefined : this.#deadlineMs - Date.now();

  get signal(): AbortSignal {
    this.#abort ??= this.#linkedController();
    return this.#abort.signal;
  }

  get requestHeader(): Headers {
    this.#requestHeader ??= toHeaders(this.#call.metadata);
    return this.#requestHeader;
  }

  get responseHeader(): Headers {
    this.#responseHeader ??= new Headers();
    return this.#responseHeader;
  }

  get responseTrailer(): Headers {
    this.#responseTrailer ??= new Headers();
    return this.#responseTrailer;
  }

  /** The trailers a handler set, as gRPC metadata; undefined when it set none. */
  trailers(): Metadata | undefined {
    if (this.#responseTrailer === undefined) return undefined;
    const metadata = new Metadata();
    this.#responseTrailer.forEach((value, key) => {
      metadata.set(key, value);
    });
    return metadata;
  }

  /** The call has ended: stops the deadline timer and the shutdown listener, if any. */
  release(): void {
    this.#released = true;
    this.#abort?.abort(FINISHED);
  }

  #linkedController(): AbortController {
    const controller = new AbortController();
    if (this.#released) {
      controller.abort(FINISHED);
      return controller;
    }
    if (this.#cancelled) {
      controller.abort(CANCELLED);
      return controller;
    }
    const shutdown = this.#shutdownSignal;
    if (shutdown?.aborted === true) {
      controller.abort(shutdown.reason);
      return controller;
    }
    const remaining = this.timeoutMs();
    const timer =
      remaining === undefined
        ? undefined
        : setTimeout(
            () => {
              controller.abort(DEADLINE);
            },
            Math.max(0, remaining),
          );
    const onShutdown = () => {
      controller.abort(shutdown?.reason);
    };
    shutdown?.addEventListener('abort', onShutdown, { once: true });
    controller.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        shutdown?.removeEventListener('abort', onShutdown);
      },
      { once: true },
    );
    return controller;
  }
}

function toHeaders(metadata: Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.getMap())) {
    if (typeof values === 'string') headers.append(key, values);
  }
  return headers;
}

/**
 * What the client needs from its host, injected so the same code runs in a browser, in Node
 * (the load tool) and under node:test's mock timers.
 */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A boolean the host can change: the network being up, the page being visible. */
export interface Watchable {
  current(): boolean;
  /** Calls `listener` on each change; returns the unsubscribe function. */
  subscribe(listener: (value: boolean) => void): () => void;
}

/** sessionStorage's shape: what the client remembers for the browser tab. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface ClientEnvironment {
  readonly timers: Timers;
  /** A number in [0, 1). */
  readonly random: () => number;
  readonly online: Watchable;
  readonly visible: Watchable;
  readonly storage: KeyValueStorage | undefined;
}

/** A Watchable that the owner sets; tests and Node use it for online and visible. */
export class Flag implements Watchable {
  readonly #listeners = new Set<(value: boolean) => void>();

  constructor(private value = true) {}

  current(): boolean {
    return this.value;
  }

  set(value: boolean): void {
    if (value === this.value) return;
    this.value = value;
    for (const listener of [...this.#listeners]) listener(value);
  }

  subscribe(listener: (value: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The browser globals the defaults use; typed here because the SDK compiles without DOM types. */
interface BrowserGlobals {
  navigator?: { onLine?: boolean };
  document?: { visibilityState?: string };
  sessionStorage?: KeyValueStorage;
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
}

function browserWatchable(
  read: () => boolean,
  events: readonly string[],
  target: BrowserGlobals | undefined,
): Watchable {
  return {
    current: read,
    subscribe(listener) {
      const add = target?.addEventListener;
      const remove = target?.removeEventListener;
      if (add === undefined || remove === undefined) return () => undefined;
      const handler = () => {
        listener(read());
      };
      for (const event of events) add.call(target, event, handler);
      return () => {
        for (const event of events) remove.call(target, event, handler);
      };
    },
  };
}

/**
 * The host's own clock, timers and randomness, and in a browser its online/offline and
 * visibility events and sessionStorage; in Node the network is taken as up and the page as
 * visible.
 */
export function defaultEnvironment(): ClientEnvironment {
  const host = globalThis as unknown as BrowserGlobals;
  const documentTarget = host.document as BrowserGlobals | undefined;
  return {
    timers: {
      now: () => Date.now(),
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: (handle) => {
        globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
      },
    },
    random: Math.random,
    online: browserWatchable(() => host.navigator?.onLine ?? true, ['online', 'offline'], host),
    visible: browserWatchable(
      () => (host.document?.visibilityState ?? 'visible') === 'visible',
      ['visibilitychange'],
      documentTarget,
    ),
    storage: safeStorage(host),
  };
}

/** sessionStorage throws in some privacy modes; the client then simply remembers nothing. */
function safeStorage(host: BrowserGlobals): KeyValueStorage | undefined {
  try {
    return host.sessionStorage;
  } catch {
    return undefined;
  }
}

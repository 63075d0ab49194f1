import type { Logger, Registry } from '../../telemetry/index.js';
import { counter, gauge } from '../../telemetry/index.js';
import type { Clock } from '../clock.js';
import type { SessionRevocations } from '../ports/session-revocations.port.js';

export interface RevokedSessionsSettings {
  /** How often the shared revocations are polled: the bound on how late a pod learns one. */
  readonly pollIntervalMs: number;
  /** Access-token lifetime: a revocation matters until the last token it covers expires. */
  readonly accessTokenTtlMs: number;
}

export interface RevokedSessionsDeps {
  readonly store: SessionRevocations;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: Registry;
}

type RevokedListener = () => void;

/** Entries read per poll; a burst larger than this is caught up over the next polls. */
const BATCH = 1_000;

/**
 * Sessions revoked (logout, refresh-token reuse) whose access tokens are still unexpired, known
 * to this process. Every pod polls the shared store every `pollIntervalMs` and keeps the set in
 * memory, so checking a call costs a map lookup and no round trip, and a revocation made on any
 * pod is honoured everywhere within one poll interval. Open streams of a revoked session are
 * told (`watch`) so they can end. If the store cannot be read, pods keep what they know and
 * retry: a revocation is then late by the outage, at most until the tokens expire.
 */
export class RevokedSessions {
  readonly #deps: RevokedSessionsDeps;
  readonly #settings: RevokedSessionsSettings;
  /** Session id → when its revocation stops mattering (epoch ms). */
  readonly #revoked = new Map<string, number>();
  readonly #watchers = new Map<string, Set<RevokedListener>>();
  readonly #syncs;
  #cursor = '';
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;

  constructor(deps: RevokedSessionsDeps, settings: RevokedSessionsSettings) {
    this.#deps = deps;
    this.#settings = settings;
    const revoked = this.#revoked;
    gauge(deps.registry, {
      name: 'auth_revoked_sessions',
      help: 'Revoked sessions whose access tokens have not expired yet, as this process knows them.',
      collect() {
        this.set(revoked.size);
      },
    });
    this.#syncs = counter(deps.registry, {
      name: 'auth_revocation_syncs_total',
      help: 'Polls of the shared session revocations by result (failure: revocations arrive late).',
      labelNames: ['result'] as const,
    });
    this.#syncs.inc({ result: 'success' }, 0);
    this.#syncs.inc({ result: 'failure' }, 0);
  }

  /** Reads what is already revoked, then polls every interval. */
  async start(): Promise<void> {
    await this.sync();
    this.#timer = setInterval(() => void this.sync(), this.#settings.pollIntervalMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  isRevoked(sessionId: string): boolean {
    if (this.#revoked.size === 0) return false;
    const until = this.#revoked.get(sessionId);
    return until !== undefined && until > this.#deps.clock.now().getTime();
  }

  /**
   * Revokes the session here at once and, through the store, on every pod. Rejects if the store
   * cannot take it (the caller may retry: a repeat is harmless).
   */
  async revoke(sessionId: string): Promise<void> {
    const untilMs = this.#deps.clock.now().getTime() + this.#settings.accessTokenTtlMs;
    this.#remember(sessionId, untilMs);
    await this.#deps.store.revoke({ sessionId, untilMs });
  }

  /** Calls `onRevoked` once if the session is revoked while watched; returns the unwatch. */
  watch(sessionId: string, onRevoked: RevokedListener): () => void {
    if (this.isRevoked(sessionId)) {
      queueMicrotask(onRevoked);
      return () => undefined;
    }
    let listeners = this.#watchers.get(sessionId);
    if (listeners === undefined) {
      listeners = new Set();
      this.#watchers.set(sessionId, listeners);
    }
    listeners.add(onRevoked);
    return () => {
      listeners.delete(onRevoked);
      if (listeners.size === 0 && this.#watchers.get(sessionId) === listeners) {
        this.#watchers.delete(sessionId);
      }
    };
  }

  /** Catches up with the shared store now; the timer calls it too. Never rejects. */
  sync(): Promise<void> {
    this.#syncing ??= this.#catchUp().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #catchUp(): Promise<void> {
    try {
      for (;;) {
        const batch = await this.#deps.store.since(this.#cursor, BATCH);
        for (const { sessionId, untilMs } of batch.revocations) this.#remember(sessionId, untilMs);
        this.#cursor = batch.cursor;
        if (batch.revocations.length < BATCH) break;
      }
      this.#prune();
      this.#syncs.inc({ result: 'success' });
    } catch (error) {
      this.#syncs.inc({ result: 'failure' });
      this.#deps.logger.warn(
        { err: error },
        'session revocations could not be read; revocations from other pods are late',
      );
    }
  }

  #remember(sessionId: string, untilMs: number): void {
    if (untilMs <= this.#deps.clock.now().getTime()) return;
    const known = this.#revoked.get(sessionId);
    if (known !== undefined && known >= untilMs) return;
    this.#revoked.set(sessionId, untilMs);
    if (known !== undefined) return; // already told
    const listeners = this.#watchers.get(sessionId);
    if (listeners === undefined) return;
    this.#watchers.delete(sessionId);
    for (const listener of listeners) listener();
  }

  #prune(): void {
    const now = this.#deps.clock.now().getTime();
    for (const [sessionId, untilMs] of this.#revoked) {
      if (untilMs <= now) this.#revoked.delete(sessionId);
    }
  }
}

/**
 * Whether this process should receive traffic: every registered dependency check passes and
 * the process is not draining. `/readyz` and the gRPC health service both read it.
 */

export interface CheckResult {
  readonly ok: boolean;
  /** Why it is not ok, for a person reading /readyz. */
  readonly detail?: string;
}

export type ReadinessCheck = () => CheckResult | Promise<CheckResult>;

export interface CheckOptions {
  /**
   * Whether a failure makes the process unready (default true). A dependency every pod shares
   * is better reported than gating: when it is down for all, taking all pods out of the load
   * balancer turns fast `UNAVAILABLE` answers into connection errors.
   */
  readonly critical?: boolean;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly draining: boolean;
  readonly checks: Readonly<Record<string, CheckResult & { readonly critical: boolean }>>;
}

/** A check that hangs is as bad as one that fails. */
const CHECK_TIMEOUT_MS = 2_000;

export class Readiness {
  readonly #checks = new Map<string, { check: ReadinessCheck; critical: boolean }>();
  readonly #listeners = new Set<(ready: boolean) => void>();
  #draining = false;
  #ready = false;
  #timer: NodeJS.Timeout | undefined;

  register(name: string, check: ReadinessCheck, options: CheckOptions = {}): void {
    this.#checks.set(name, { check, critical: options.critical ?? true });
  }

  /** The last evaluated state (false until the first evaluation). */
  get isReady(): boolean {
    return this.#ready;
  }

  get isDraining(): boolean {
    return this.#draining;
  }

  onChange(listener: (ready: boolean) => void): void {
    this.#listeners.add(listener);
  }

  /** Fails readiness for good: the process is going away. */
  startDraining(): void {
    this.#draining = true;
    this.#set(false);
  }

  async evaluate(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.#checks].map(
        async ([name, { check, critical }]) => [name, await runCheck(check), critical] as const,
      ),
    );
    const checks = Object.fromEntries(
      entries.map(([name, result, critical]) => [name, { ...result, critical }]),
    );
    const ready =
      !this.#draining && entries.every(([, result, critical]) => result.ok || !critical);
    this.#set(ready);
    return { ready, draining: this.#draining, checks };
  }

  /** Re-evaluates periodically so push-style consumers (gRPC health Watch) stay current. */
  watch(intervalMs: number): void {
    this.stop();
    const tick = () => {
      void this.evaluate();
    };
    tick();
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #set(ready: boolean): void {
    if (ready === this.#ready) return;
    this.#ready = ready;
    for (const listener of this.#listeners) listener(ready);
  }
}

async function runCheck(check: ReadinessCheck): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => {
      resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` });
    }, CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

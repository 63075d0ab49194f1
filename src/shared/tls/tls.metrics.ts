import { counter, gauge, type Registry } from '../../telemetry/index.js';

export interface TlsMetrics {
  /** Reports the seconds left until `notAfter()` under `listener`, read at each scrape. */
  track(listener: string, notAfter: () => Date): void;
  reloaded(result: 'success' | 'failure'): void;
}

/** Per registry, so each listener of a process (and each test app) reports its own. */
const sources = new WeakMap<Registry, Map<string, () => Date>>();

export function tlsMetrics(registry: Registry): TlsMetrics {
  let tracked = sources.get(registry);
  if (tracked === undefined) {
    const listeners = new Map<string, () => Date>();
    tracked = listeners;
    sources.set(registry, listeners);
    gauge(registry, {
      name: 'tls_certificate_expiry_seconds',
      help: 'Seconds until the certificate a listener serves expires (negative once expired).',
      labelNames: ['listener'] as const,
      collect() {
        for (const [listener, notAfter] of listeners) {
          this.set({ listener }, (notAfter().getTime() - Date.now()) / 1000);
        }
      },
    });
  }
  const reloads = counter(registry, {
    name: 'tls_certificate_reloads_total',
    help: 'Checks of the TLS files that found a rotation, by result (failure: the old ones stay).',
    labelNames: ['result'] as const,
  });
  reloads.inc({ result: 'success' }, 0);
  reloads.inc({ result: 'failure' }, 0);
  const listeners = tracked;
  return {
    track(listener, notAfter) {
      listeners.set(listener, notAfter);
    },
    reloaded(result) {
      reloads.inc({ result });
    },
  };
}

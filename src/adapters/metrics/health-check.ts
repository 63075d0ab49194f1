import type { Logger } from 'pino';
import type { UpSignal } from './up-gauge.js';

export interface HealthCheckOptions {
  /** Stable name for logs, e.g. 'postgres'. */
  readonly dependency: string;
  readonly intervalMs: number;
  /** Resolves when the dependency answered; any rejection means down. */
  readonly probe: () => Promise<void>;
  readonly up: UpSignal;
  readonly logger: Logger;
}

export interface HealthCheck {
  /** Runs one probe now (or joins the one in flight) and reports the result. */
  check(): Promise<boolean>;
  stop(): void;
}

/**
 * Periodic probe feeding an up signal. It logs on changes only (down once, recovered once), not
 * on every failed probe, so an outage is two log lines, not one per interval. The timer is
 * unref'd: a health check never keeps the process alive.
 */
export function startHealthCheck(options: HealthCheckOptions): HealthCheck {
  const { dependency, probe, up, logger } = options;
  let inFlight: Promise<boolean> | undefined;
  let lastUp: boolean | undefined;

  const check = (): Promise<boolean> => {
    inFlight ??= probe()
      .then(
        () => true,
        (error: unknown) => {
          if (lastUp !== false) logger.error({ dependency, err: error }, 'health check failed');
          return false;
        },
      )
      .then((isUp) => {
        if (isUp && lastUp === false) logger.info({ dependency }, 'health check recovered');
        lastUp = isUp;
        up.set(isUp);
        inFlight = undefined;
        return isUp;
      });
    return inFlight;
  };

  const timer =
    options.intervalMs > 0
      ? setInterval(() => {
          void check();
        }, options.intervalMs)
      : undefined;
  timer?.unref();

  return {
    check,
    stop: () => {
      clearInterval(timer);
    },
  };
}

import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import { DomainError, isDomainError } from '../../domain/errors.js';
import type {
  ConsumeOptions,
  RateLimitDecision,
  RateLimiter,
} from '../../domain/ports/rate-limiter.port.js';
import { counter } from '../../telemetry/metrics.js';

/**
 * What a limit does when its store cannot answer:
 * - 'open': allow the request (availability first: trading APIs behind a healthy engine should
 *   not go down because Redis did), counted in `rate_limit_fail_open_total`;
 * - 'closed': refuse it with `unavailable` (protection first: login endpoints, where an
 *   unlimited window invites credential stuffing).
 */
export type RateLimitFailureMode = 'open' | 'closed';

export interface GuardedRateLimiterOptions {
  readonly limiter: RateLimiter;
  /**
   * What is being limited: 'user', 'login_ip', 'login_user_ip', … A bounded metric label, and the
   * key namespace, so scopes sharing one limiter never share a key.
   */
  readonly scope: string;
  readonly failureMode: RateLimitFailureMode;
  readonly logger: Logger;
  readonly registry: Registry;
  /** How a refusal names the limit to the caller; unset: requests per second. */
  readonly refusal?: RefusalWording;
}

/** `rate_limit_rejections_total`, by scope: these limiters' refusals and other limits' alike. */
export function rateLimitRejections(registry: Registry): Counter<'scope'> {
  return counter(registry, {
    name: 'rate_limit_rejections_total',
    help: 'Requests refused by a rate limit, by scope.',
    labelNames: ['scope'],
  });
}

/** "too many <what>: at most 5 per <per>, 10 at once; retry in 12 s". */
export interface RefusalWording {
  /** What one unit of the limit is, as the caller sees it: 'login attempts from this address'. */
  readonly what: string;
  /** The period the limit is configured in, so the message quotes the configured number. */
  readonly per: 'second' | 'minute';
}

const REQUESTS_PER_SECOND: RefusalWording = { what: 'requests', per: 'second' };

/**
 * Decorates a RateLimiter with the scope's failure direction, its metrics and its logs. One
 * instance per scope; the inner limiter (Redis or memory) can be shared.
 */
export class GuardedRateLimiter implements RateLimiter {
  readonly scope: string;
  readonly #inner: RateLimiter;
  readonly #failureMode: RateLimitFailureMode;
  readonly #refusal: RefusalWording;
  readonly #log: Logger;
  readonly #rejections: Counter<'scope'>;
  readonly #failOpen: Counter<'scope'>;
  #degraded = false;

  constructor(options: GuardedRateLimiterOptions) {
    this.scope = options.scope;
    this.#inner = options.limiter;
    this.#failureMode = options.failureMode;
    this.#refusal = options.refusal ?? REQUESTS_PER_SECOND;
    this.#log = options.logger.child({ scope: options.scope, failureMode: options.failureMode });
    this.#rejections = rateLimitRejections(options.registry);
    this.#failOpen = counter(options.registry, {
      name: 'rate_limit_fail_open_total',
      help: 'Requests allowed without a rate-limit decision because the store was unavailable.',
      labelNames: ['scope'],
    });
    this.#rejections.inc({ scope: this.scope }, 0);
    this.#failOpen.inc({ scope: this.scope }, 0);
  }

  async consume(key: string, options: ConsumeOptions): Promise<RateLimitDecision> {
    let decision: RateLimitDecision;
    try {
      decision = await this.#inner.consume(`${this.scope}:${key}`, options);
    } catch (error) {
      if (!isDomainError(error) || error.code !== 'unavailable') throw error;
      return this.#degrade(error, options);
    }
    if (this.#degraded) {
      this.#degraded = false;
      this.#log.info('rate limiter recovered');
    }
    if (!decision.allowed) this.#rejections.inc({ scope: this.scope });
    return decision;
  }

  /** consume(), then refuse with `resource_exhausted` (and a retry delay) when not allowed. */
  async enforce(key: string, options: ConsumeOptions): Promise<RateLimitDecision> {
    const decision = await this.consume(key, options);
    if (!decision.allowed) {
      throw new DomainError(
        'resource_exhausted',
        refusalMessage(this.#refusal, options, decision),
        {
          retryAfterMs: decision.retryAfterMs,
        },
      );
    }
    return decision;
  }

  #degrade(error: DomainError, options: ConsumeOptions): RateLimitDecision {
    // Log the start of an outage once, not once per request.
    if (!this.#degraded) {
      this.#degraded = true;
      this.#log.error(
        { err: error, dependency: error.dependency },
        this.#failureMode === 'open'
          ? 'rate limiter unavailable; failing open'
          : 'rate limiter unavailable; failing closed',
      );
    }
    if (this.#failureMode === 'closed') {
      throw new DomainError('unavailable', `rate limiting is unavailable: ${error.message}`, {
        dependency: error.dependency ?? 'redis',
        ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        cause: error,
      });
    }
    this.#failOpen.inc({ scope: this.scope });
    return {
      allowed: true,
      remaining: Math.max(0, options.burst - (options.cost ?? 1)),
      retryAfterMs: 0,
      resetAfterMs: 0,
    };
  }
}

function refusalMessage(
  wording: RefusalWording,
  limit: ConsumeOptions,
  decision: RateLimitDecision,
): string {
  const perPeriod = wording.per === 'minute' ? limit.ratePerSec * 60 : limit.ratePerSec;
  // Rounded: a per-minute setting arrives divided by 60, which multiplying back may not undo.
  const rate = Number(perPeriod.toPrecision(6));
  const cost = limit.cost ?? 1;
  const counts = cost === 1 ? '' : ` (this call counts as ${cost})`;
  const retry =
    decision.retryAfterMs < 1_000
      ? `${decision.retryAfterMs} ms`
      : `${Math.ceil(decision.retryAfterMs / 1_000)} s`;
  const allowed = `at most ${rate} per ${wording.per}, ${limit.burst} at once${counts}`;
  return `too many ${wording.what}: ${allowed}; retry in ${retry}`;
}

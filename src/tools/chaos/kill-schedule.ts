import { SeededRandom } from '../seeded-random.js';

export type KillSignal = 'SIGTERM' | 'SIGKILL';

export interface PlannedKill<R extends string = string> {
  /** From the start of the run. */
  readonly atMs: number;
  /** Whose process: the roles take turns, so even a short run hits each of them. */
  readonly role: R;
  /** A random draw in [0, 1) that picks the victim among the processes up at that moment. */
  readonly pick: number;
  readonly signal: KillSignal;
}

export interface KillScheduleOptions<R extends string = string> {
  readonly seed: number;
  readonly roles: readonly R[];
  readonly kills: number;
  /** Kills are spread over this window, leaving its last tenth quiet. */
  readonly durationMs: number;
  /** Share of kills that are SIGKILL; the rest are SIGTERM (a rollout). */
  readonly sigkillShare: number;
}

/**
 * When to kill, whom and how: `kills` evenly spaced moments over the first nine tenths of the
 * run, each moved by up to half a spacing, the roles in turn, seeded so a failing run can be
 * replayed. The process of that role is chosen when the moment comes (among those up then),
 * from the draw stored here.
 */
export function killSchedule<R extends string>(options: KillScheduleOptions<R>): PlannedKill<R>[] {
  const random = new SeededRandom(options.seed);
  const window = options.durationMs * 0.9;
  const spacing = window / Math.max(1, options.kills);
  // The roles in a seeded order, then in turn.
  const roles = options.roles
    .map((role) => ({ role, key: random.next() }))
    .sort((x, y) => x.key - y.key)
    .map(({ role }) => role);
  return Array.from({ length: options.kills }, (_, i) => {
    const role = roles[i % roles.length];
    if (role === undefined) throw new RangeError('no roles to kill');
    return {
      atMs: Math.round(spacing * (i + 0.5) + (random.next() - 0.5) * spacing),
      role,
      pick: random.next(),
      signal: random.chance(options.sigkillShare) ? 'SIGKILL' : 'SIGTERM',
    };
  });
}

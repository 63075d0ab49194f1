import { SeededRandom } from '../seeded-random.js';

export type KillSignal = 'SIGTERM' | 'SIGKILL';

export interface PlannedKill {
  /** From the start of the run. */
  readonly atMs: number;
  /** A random draw in [0, 1) that picks the victim among the processes up at that moment. */
  readonly pick: number;
  readonly signal: KillSignal;
}

export interface KillScheduleOptions {
  readonly seed: number;
  readonly kills: number;
  /** Kills are spread over this window, leaving its last tenth quiet. */
  readonly durationMs: number;
  /** Share of kills that are SIGKILL; the rest are SIGTERM (a rollout). */
  readonly sigkillShare: number;
}

/**
 * When to kill, and how: `kills` evenly spaced moments over the first nine tenths of the run,
 * each moved by up to half a spacing, seeded so a failing run can be replayed. The victim is
 * chosen when the moment comes (among the processes up then), from the draw stored here.
 */
export function killSchedule(options: KillScheduleOptions): PlannedKill[] {
  const random = new SeededRandom(options.seed);
  const window = options.durationMs * 0.9;
  const spacing = window / Math.max(1, options.kills);
  return Array.from({ length: options.kills }, (_, i) => ({
    atMs: Math.round(spacing * (i + 0.5) + (random.next() - 0.5) * spacing),
    pick: random.next(),
    signal: random.chance(options.sigkillShare) ? 'SIGKILL' : 'SIGTERM',
  }));
}

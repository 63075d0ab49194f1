import { counter, gauge, type Registry } from '../telemetry/index.js';

export type SimulatorAction = 'place' | 'cancel';

/**
 * Bounded outcome of a simulator action: `ok`; `gone` (a cancel of an order already filled or
 * canceled); `rejected` (refused by the book or balance rules); `throttled` (open-order quota or
 * rate limit); `unavailable` (a dependency is down or slow); `failed` (anything else).
 */
export type SimulatorResult = 'ok' | 'gone' | 'rejected' | 'throttled' | 'unavailable' | 'failed';

export function simulatorMetrics(registry: Registry) {
  const actions = counter(registry, {
    name: 'simulator_orders_total',
    help: 'Orders the market simulator placed or canceled, by action and result.',
    labelNames: ['action', 'result'] as const,
  });
  const running = gauge(registry, {
    name: 'simulator_running',
    help: 'Whether the built-in market simulator is placing orders (1) or not (0).',
  });
  const topUps = counter(registry, {
    name: 'simulator_balance_topups_total',
    help: 'Bot balances the market simulator raised back to their target, by asset.',
    labelNames: ['asset'] as const,
  });
  running.set(0);
  return {
    action(action: SimulatorAction, result: SimulatorResult): void {
      actions.inc({ action, result });
    },
    running(on: boolean): void {
      running.set(on ? 1 : 0);
    },
    toppedUp(asset: string): void {
      topUps.inc({ asset });
    },
  };
}

export type SimulatorMetrics = ReturnType<typeof simulatorMetrics>;

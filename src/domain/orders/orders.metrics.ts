import { counter, type Registry } from '../../telemetry/index.js';

/**
 * `orders_total{side,type,result}`: every PlaceOrder outcome. `result` is bounded: `accepted`,
 * `replayed` (a repeated client order id), `rejected` (bad input, balance, book rules, a client
 * order id reused for a different order) or `failed` (the engine could not commit).
 */
export const PLACE_RESULTS = ['accepted', 'replayed', 'rejected', 'failed'] as const;
export type PlaceResult = (typeof PLACE_RESULTS)[number];

export function orderMetrics(registry: Registry) {
  const orders = counter(registry, {
    name: 'orders_total',
    help: 'PlaceOrder calls by side, type and result.',
    labelNames: ['side', 'type', 'result'] as const,
  });
  // Zero series for the valid combinations, so the first failure shows in rate() and alerts.
  for (const side of ['buy', 'sell']) {
    for (const type of ['limit', 'market']) {
      for (const result of PLACE_RESULTS) orders.inc({ side, type, result }, 0);
    }
  }
  return {
    placed(side: string, type: string, result: PlaceResult): void {
      orders.inc({ side, type, result });
    },
  };
}

import { counter, type Registry } from '../../telemetry/index.js';

/**
 * `orders_total{side,type,result}`: every PlaceOrder outcome. `result` is bounded: `accepted`,
 * `replayed` (a repeated client order id), `rejected` (bad input, balance, book rules) or
 * `failed` (the engine could not commit).
 */
export type PlaceResult = 'accepted' | 'replayed' | 'rejected' | 'failed';

export function orderMetrics(registry: Registry) {
  const orders = counter(registry, {
    name: 'orders_total',
    help: 'PlaceOrder calls by side, type and result.',
    labelNames: ['side', 'type', 'result'] as const,
  });
  return {
    placed(side: string, type: string, result: PlaceResult): void {
      orders.inc({ side, type, result });
    },
  };
}

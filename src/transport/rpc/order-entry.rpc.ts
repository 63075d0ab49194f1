import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, type HandlerContext } from '@connectrpc/connect';
import { SpanStatusCode, trace, type Link } from '@opentelemetry/api';
import { DomainError, isDomainError } from '../../domain/errors.js';
import {
  OrderEntryResponseSchema,
  OrderService,
  type OrderEntryRequest,
  type OrderEntryResponse,
} from '../../gen/trading/v1/orders_pb.js';
import {
  counter,
  gauge,
  histogram,
  LATENCY_BUCKETS,
  type Logger,
  type Registry,
} from '../../telemetry/index.js';
import { chargeCommandKey, requirePrincipal } from './call-context.js';
import { mapSettled } from './map-settled.js';
import type { OrderCommands } from './order-commands.js';
import { STATUS_CODES } from './status-codes.js';

/**
 * `OrderService.OrderEntry`: one authenticated stream carrying many commands. Each command
 * runs like its unary call (same validation, per-user rate limit, engine, durability) and is
 * answered as soon as it is done, so answers may overtake each other. A refused command is
 * answered with an error and the session goes on; a bug ends the session (INTERNAL).
 */

/** Commands of one session running at once; further requests stay unread until one is done. */
export const ORDER_ENTRY_IN_FLIGHT = 128;

const COMMANDS = ['place', 'cancel', 'amend', 'none'] as const;
type Command = (typeof COMMANDS)[number];

/** The unary call a command stands for: what it is charged against the rate limit as. */
const CHARGED_AS = {
  place: OrderService.method.placeOrder,
  cancel: OrderService.method.cancelOrder,
  amend: OrderService.method.amendOrder,
} as const;

export interface OrderEntryObservability {
  readonly registry: Registry;
  readonly logger: Logger;
}

const tracer = trace.getTracer('trading-platform/order-entry');

type Result = MessageInitShape<typeof OrderEntryResponseSchema>['result'];

function orderEntryMetrics(registry: Registry) {
  const sessions = gauge(registry, {
    name: 'order_entry_sessions',
    help: 'Order-entry streams open on this process.',
  });
  const commands = counter(registry, {
    name: 'order_entry_commands_total',
    help: 'Commands answered on order-entry streams, by command and status code (OK or the error).',
    labelNames: ['command', 'code'] as const,
  });
  const seconds = histogram(registry, {
    name: 'order_entry_command_seconds',
    help: 'Time from reading an order-entry command to its answer being ready, by command.',
    labelNames: ['command'] as const,
    buckets: LATENCY_BUCKETS,
  });
  for (const command of COMMANDS) commands.inc({ command, code: 'OK' }, 0);
  return { sessions, commands, seconds };
}

export function orderEntry(commands: OrderCommands, observability: OrderEntryObservability) {
  const metrics = orderEntryMetrics(observability.registry);
  const log = observability.logger.child({ component: 'order-entry' });

  /** Runs a command for its user; what it answers, as the response's `result`. */
  async function run(
    userId: number,
    action: Exclude<OrderEntryRequest['command'], { case: undefined }>,
  ): Promise<Result> {
    switch (action.case) {
      case 'place':
        return { case: 'placed', value: await commands.place(userId, action.value) };
      case 'cancel':
        return { case: 'canceled', value: await commands.cancel(userId, action.value) };
      case 'amend':
        return { case: 'amended', value: await commands.amend(userId, action.value) };
    }
  }

  /** One command's answer; a domain error becomes an error answer, anything else is thrown. */
  async function answer(
    userId: number,
    request: OrderEntryRequest,
    charge: (method: (typeof CHARGED_AS)[keyof typeof CHARGED_AS]) => Promise<void>,
    links: Link[],
  ): Promise<OrderEntryResponse> {
    const { command: action, requestId } = request;
    const command: Command = action.case ?? 'none';
    const started = performance.now();
    return tracer.startActiveSpan(
      `trading.v1.OrderService/OrderEntry ${command}`,
      // A trace per command (linked to the session's), not one trace holding a whole session.
      {
        root: true,
        links,
        attributes: { 'enduser.id': String(userId), 'order_entry.request_id': String(requestId) },
      },
      async (span) => {
        let code = 'OK';
        try {
          if (action.case === undefined) {
            throw new DomainError(
              'invalid_argument',
              'an order entry request needs a command: place, cancel or amend',
            );
          }
          await charge(CHARGED_AS[action.case]);
          return create(OrderEntryResponseSchema, { requestId, result: await run(userId, action) });
        } catch (error) {
          // Only a revoked session fails a running session's command so: the stream ends.
          if (isDomainError(error) && error.code === 'unauthenticated') {
            code = 'Unauthenticated';
            throw error;
          }
          if (!isDomainError(error)) {
            code = 'Internal';
            span.recordException(error instanceof Error ? error : String(error));
            span.setStatus({ code: SpanStatusCode.ERROR });
            throw error;
          }
          const status = STATUS_CODES[error.code];
          code = Code[status];
          span.setAttribute('rpc.grpc.status_code', status);
          return create(OrderEntryResponseSchema, {
            requestId,
            result: {
              case: 'error',
              value: {
                code: status,
                message: error.message,
                retryAfterMs: Math.ceil(error.retryAfterMs ?? 0),
              },
            },
          });
        } finally {
          metrics.commands.inc({ command, code });
          metrics.seconds.observe({ command }, (performance.now() - started) / 1000);
          span.end();
        }
      },
    );
  }

  return async function* orderEntrySession(
    requests: AsyncIterable<OrderEntryRequest>,
    context: HandlerContext,
  ): AsyncGenerator<OrderEntryResponse, void, undefined> {
    const principal = requirePrincipal(context);
    const userId = Number(principal.userId);
    const charge = context.values.get(chargeCommandKey);
    const session = trace.getActiveSpan()?.spanContext();
    const links: Link[] = session === undefined ? [] : [{ context: session }];
    const opened = performance.now();
    let count = 0;
    metrics.sessions.inc();
    log.info({ user_id: principal.userId }, 'order entry session opened');
    try {
      yield* mapSettled(requests, ORDER_ENTRY_IN_FLIGHT, (request) => {
        count += 1;
        return answer(userId, request, charge, links);
      });
    } finally {
      metrics.sessions.dec();
      log.info(
        {
          user_id: principal.userId,
          commands: count,
          duration_ms: Math.round(performance.now() - opened),
        },
        'order entry session closed',
      );
    }
  };
}

import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Fields that must never reach a log line, wherever they appear in an object. */
const REDACTED_PATHS = [
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'authorization',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerSettings {
  readonly level: string;
  /** Fields on every line, e.g. service, role, pod. */
  readonly base: Record<string, string>;
}

/**
 * One JSON line per event. Inside an active span every line carries `trace_id` and
 * `span_id`, so a log line can be joined to its trace in the backend.
 */
export function createLogger(settings: LoggerSettings, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: settings.base,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    mixin: traceContextFields,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

function traceContextFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return {};
  return { trace_id: context.traceId, span_id: context.spanId };
}

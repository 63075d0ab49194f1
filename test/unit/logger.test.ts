import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { LogCapture } from '../support/app.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);

test('a line logged inside a span carries that span trace_id and span_id', async () => {
  const logs = new LogCapture();
  const logger = logs.logger();
  const tracer = trace.getTracer('test');

  await tracer.startActiveSpan('work', async (span) => {
    await Promise.resolve();
    logger.info('inside');
    span.end();
  });

  const [exported] = exporter.getFinishedSpans();
  assert.ok(exported);
  const line = logs.find('inside');
  assert.ok(line);
  assert.equal(line.trace_id, exported.spanContext().traceId);
  assert.equal(line.span_id, exported.spanContext().spanId);
});

test('a line logged outside any span has no trace fields', () => {
  const logs = new LogCapture();
  logs.logger().info('outside');
  const line = logs.find('outside');
  assert.ok(line);
  assert.equal('trace_id' in line, false);
});

test('passwords and tokens never reach a log line', () => {
  const logs = new LogCapture();
  logs
    .logger()
    .info(
      { password: 'hunter2hunter2', request: { refresh_token: 'abc', username: 'ann' } },
      'login attempt',
    );
  const text = JSON.stringify(logs.find('login attempt'));
  assert.equal(text.includes('hunter2'), false);
  assert.equal(text.includes('"abc"'), false);
  assert.ok(text.includes('"username":"ann"'));
});

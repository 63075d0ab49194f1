import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
  type Context,
} from '@opentelemetry/api';
import { BasicTracerProvider, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { createSampler } from '../../src/telemetry/sampler.js';

/**
 * 1,000 valid trace ids whose ratio-sampling hash (the XOR of their four 32-bit parts) is
 * spread evenly over its range, as random ids' is.
 */
const traceIds = Array.from(
  { length: 1_000 },
  (_, i) =>
    `${Math.floor((i * 2 ** 32) / 1_000)
      .toString(16)
      .padStart(8, '0')}${'0'.repeat(23)}1`,
);

const sampledShare = (sampler: ReturnType<typeof createSampler>, parent: Context) =>
  traceIds.filter(
    (id) =>
      sampler.shouldSample(parent, id, 'span', SpanKind.SERVER, {}, []).decision ===
      SamplingDecision.RECORD_AND_SAMPLED,
  ).length / traceIds.length;

const withParent = (sampled: boolean): Context =>
  trace.setSpanContext(ROOT_CONTEXT, {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });

test('the default samples every root span', () => {
  const sampler = createSampler({ name: 'parentbased_always_on', ratio: 1 });

  assert.equal(sampledShare(sampler, ROOT_CONTEXT), 1);
});

test('a parent-based ratio samples that share of new traces and follows a caller that decided', () => {
  const sampler = createSampler({ name: 'parentbased_traceidratio', ratio: 0.1 });

  assert.ok(Math.abs(sampledShare(sampler, ROOT_CONTEXT) - 0.1) <= 0.002);
  assert.equal(sampledShare(sampler, withParent(true)), 1);
  assert.equal(sampledShare(sampler, withParent(false)), 0);
});

test('always_off and a plain ratio ignore the caller', () => {
  assert.equal(sampledShare(createSampler({ name: 'always_off', ratio: 1 }), withParent(true)), 0);
  assert.equal(
    sampledShare(createSampler({ name: 'traceidratio', ratio: 0 }), withParent(true)),
    0,
  );
});

test('a span it does not sample is not recorded but keeps a valid trace id for the logs', () => {
  const provider = new BasicTracerProvider({
    sampler: createSampler({ name: 'parentbased_traceidratio', ratio: 0 }),
  });

  const span = provider.getTracer('test').startSpan('unsampled');

  assert.equal(span.isRecording(), false);
  assert.ok(isSpanContextValid(span.spanContext()));
});

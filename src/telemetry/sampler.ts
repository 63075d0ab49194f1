import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import type { SamplerSettings } from '../config/index.js';

/**
 * Which spans are recorded and exported. The default records everything, right on a laptop
 * and for tracing any single order. Sampling a share of new traces (`parentbased_traceidratio`:
 * each order-entry command starts one; a caller that already decided is followed) cuts what is
 * exported and stored, not the cost of tracing in this process: context propagation and the
 * instrumentation's wrappers run either way (docs/benchmarks.md, "Sampling does not buy the
 * tracing cost back"). A span that is not sampled still has a trace id, so log lines keep
 * their `trace_id`.
 */
export function createSampler(settings: SamplerSettings): Sampler {
  switch (settings.name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(settings.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.ratio) });
  }
}

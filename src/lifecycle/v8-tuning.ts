import v8 from 'node:v8';

/**
 * The V8 settings the service runs with, applied when this module is first evaluated: import
 * it before anything else (main.ts does, and so do the benchmarks, so that they measure what
 * ships). They are set here rather than on the command line because NODE_OPTIONS, which the
 * Kubernetes manifests use, accepts only a few V8 flags, and these are not among them.
 *
 * No allocation-site pretenuring. V8 samples, per allocation site, how many of its objects
 * survive a young-generation collection, and once nearly all do, allocates that site's objects
 * straight into the old generation. In bench:orders it took that decision for 26 sites of
 * the server's thread within seconds (`--trace-pretenuring-statistics`), at start and warm-up,
 * when most objects live on. Under load their objects are mostly short-lived, but they no
 * longer die young: they fill the old generation, and every young collection walks their
 * pointers to young objects. Without it (OrderEntry streams, 2026-11-25): median
 * young-collection pause 3.4-4.0 → 2.5-2.7 ms, their total over a run 790-850 → 570-610 ms,
 * one full collection fewer per run (docs/benchmarks.md, session 8).
 */
v8.setFlagsFromString('--no-allocation-site-pretenuring');

/**
 * The harness's names for bench/lib's latency recorder (one implementation
 * for every bench).
 */
export { LatencyRecorder as Histogram, mergeEncoded, type LatencySummary as LatencyPercentiles } from '../lib/latency.ts';

/**
 * Latency recording for benches: an HDR histogram in microseconds, so
 * p50/p99/p999 are exact to 3 significant digits whatever the spread.
 */
import * as hdr from 'hdr-histogram-js';

/** Percentile summary in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** A histogram of latencies recorded in microseconds (1 µs .. 60 s). */
export class LatencyRecorder {
  private readonly histogram = hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

  /** Records one latency given in milliseconds (fractions allowed). */
  recordMs(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** Merges another recorder's values (for example from a worker). */
  addEncoded(encoded: string): void {
    this.histogram.add(hdr.decodeFromCompressedBase64(encoded));
  }

  /** Encodes the values for transfer between processes. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.histogram);
  }

  summary(): LatencySummary {
    const h = this.histogram;
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: h.totalCount,
      p50Ms: ms(h.getValueAtPercentile(50)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      p999Ms: ms(h.getValueAtPercentile(99.9)),
      maxMs: ms(h.maxValue),
      meanMs: ms(h.mean),
    };
  }
}

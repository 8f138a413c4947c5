/**
 * Latency histogram of the harness: HDR in microseconds (1 µs .. 60 s, 3
 * significant digits), encoded to compressed base64 to cross process
 * boundaries and merged exactly in the orchestrator. Like bench/lib's
 * LatencyRecorder, plus p90 and a typed summary the report needs.
 */
import * as hdr from 'hdr-histogram-js';

/** Percentiles in milliseconds. */
export interface LatencyPercentiles {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export class Histogram {
  private readonly h = hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

  /** Records a latency in milliseconds (clamped to 1 µs .. 60 s). */
  recordMs(ms: number): void {
    this.h.recordValue(Math.min(60_000_000, Math.max(1, Math.round(ms * 1000))));
  }

  get count(): number {
    return this.h.totalCount;
  }

  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.h);
  }

  /** Adds the values of an encoded histogram (another worker's). */
  addEncoded(encoded: string): void {
    if (encoded === '') return;
    this.h.add(hdr.decodeFromCompressedBase64(encoded));
  }

  summary(): LatencyPercentiles {
    const h = this.h;
    const ms = (us: number) => Math.round(us) / 1000;
    if (h.totalCount === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 };
    return {
      count: h.totalCount,
      p50Ms: ms(h.getValueAtPercentile(50)),
      p90Ms: ms(h.getValueAtPercentile(90)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      p999Ms: ms(h.getValueAtPercentile(99.9)),
      maxMs: ms(h.maxValue),
      meanMs: Math.round(h.mean) / 1000,
    };
  }
}

/** Merges encoded histograms into one summary. */
export function mergeEncoded(encoded: readonly string[]): { summary: LatencyPercentiles; encoded: string } {
  const h = new Histogram();
  for (const e of encoded) h.addEncoded(e);
  return { summary: h.summary(), encoded: h.encode() };
}

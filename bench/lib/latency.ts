/**
 * Latency recording for every bench: an HDR histogram in microseconds
 * (1 µs .. 60 s, 3 significant digits), so p50/p90/p99/p999 are exact to 3
 * digits whatever the spread; encoded to compressed base64 to cross process
 * boundaries and merged exactly (the load harness's workers → orchestrator).
 */
import * as hdr from 'hdr-histogram-js';

/** Percentile summary in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** A histogram of latencies recorded in milliseconds, kept in microseconds. */
export class LatencyRecorder {
  private readonly h = hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });

  /** Records one latency in milliseconds (fractions allowed; clamped to 1 µs .. 60 s). */
  recordMs(ms: number): void {
    this.h.recordValue(Math.min(60_000_000, Math.max(1, Math.round(ms * 1000))));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Encodes the values for transfer between processes. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.h);
  }

  /** Adds the values of an encoded histogram (another process's). */
  addEncoded(encoded: string): void {
    if (encoded === '') return;
    this.h.add(hdr.decodeFromCompressedBase64(encoded));
  }

  summary(): LatencySummary {
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

/** Merges encoded histograms into one summary (and their merged encoding). */
export function mergeEncoded(encoded: readonly string[]): { summary: LatencySummary; encoded: string } {
  const h = new LatencyRecorder();
  for (const e of encoded) h.addEncoded(e);
  return { summary: h.summary(), encoded: h.encode() };
}

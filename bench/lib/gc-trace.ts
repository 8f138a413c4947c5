/**
 * Young- and old-generation GC of a server under load, read from V8's
 * `--trace-gc-nvp` output (one line of name=value pairs per collection), so
 * a bench can say what its latency tail is made of: how often the event loop
 * stops for a scavenge, for how long, and how much each one copies
 * (`new_space_survived`: stays young; `promoted`: moved to the old
 * generation). Lines are counted only while `measuring` is set. A process
 * with worker threads prints one series per isolate (the `[pid:0x…]` prefix);
 * the summary is of the isolate with the most scavenges, i.e. the main thread
 * of a busy server.
 */

/** Summary of the collections seen while measuring, in one isolate. */
export interface GcSummary {
  /** Isolate address as printed (`0x…`). */
  readonly isolate: string;
  readonly scavenges: number;
  readonly scavengePauseMeanMs: number;
  readonly scavengePauseMaxMs: number;
  /** Mean bytes promoted to the old generation per scavenge, in KB. */
  readonly promotedMeanKb: number;
  /** Mean bytes that stayed in the young generation per scavenge, in KB. */
  readonly survivedMeanKb: number;
  /** Mean bytes allocated since the previous collection, per scavenge, in KB. */
  readonly allocatedMeanKb: number;
  readonly markCompacts: number;
  /** Sum of the mark-compact pauses (the finalisation on the main thread; incremental steps not included). */
  readonly markCompactPauseMs: number;
}

interface Series {
  scavenges: number;
  pauseSum: number;
  pauseMax: number;
  promotedSum: number;
  survivedSum: number;
  allocatedSum: number;
  markCompacts: number;
  markCompactPause: number;
}

const LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+\d+ ms: (.*)$/;
const PAIR = /([\w.]+)=([-\d.]+)/g;

/** Collects `--trace-gc-nvp` lines from a child's output, fed in chunks as they arrive. */
export class GcTrace {
  /** Whether lines fed now are counted. */
  measuring = false;
  private partial = '';
  private readonly series = new Map<string, Series>();

  /** Feeds output; incomplete last lines wait for the next chunk. */
  feed(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (!this.measuring) return;
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    const m = LINE.exec(line);
    if (m === null) return;
    const fields = new Map<string, number>();
    for (const [, name, value] of m[2]!.matchAll(PAIR)) fields.set(name!, Number(value));
    const kind = /\bgc=(\w+)/.exec(m[2]!)?.[1];
    const pause = fields.get('pause');
    if (pause === undefined || (kind !== 's' && kind !== 'mc')) return;
    let s = this.series.get(m[1]!);
    if (s === undefined) {
      s = { scavenges: 0, pauseSum: 0, pauseMax: 0, promotedSum: 0, survivedSum: 0, allocatedSum: 0, markCompacts: 0, markCompactPause: 0 };
      this.series.set(m[1]!, s);
    }
    if (kind === 'mc') {
      s.markCompacts++;
      s.markCompactPause += pause;
      return;
    }
    s.scavenges++;
    s.pauseSum += pause;
    s.pauseMax = Math.max(s.pauseMax, pause);
    s.promotedSum += fields.get('promoted') ?? 0;
    s.survivedSum += fields.get('new_space_survived') ?? 0;
    s.allocatedSum += fields.get('allocated') ?? 0;
  }

  /** The busiest isolate's figures; undefined when no scavenge was seen while measuring. */
  summary(): GcSummary | undefined {
    let best: [string, Series] | undefined;
    for (const entry of this.series) if (best === undefined || entry[1].scavenges > best[1].scavenges) best = entry;
    if (best === undefined || best[1].scavenges === 0) return undefined;
    const [isolate, s] = best;
    const n = s.scavenges;
    const round = (x: number, digits: number) => Number(x.toFixed(digits));
    return {
      isolate,
      scavenges: n,
      scavengePauseMeanMs: round(s.pauseSum / n, 2),
      scavengePauseMaxMs: round(s.pauseMax, 1),
      promotedMeanKb: Math.round(s.promotedSum / n / 1000),
      survivedMeanKb: Math.round(s.survivedSum / n / 1000),
      allocatedMeanKb: Math.round(s.allocatedSum / n / 1000),
      markCompacts: s.markCompacts,
      markCompactPauseMs: round(s.markCompactPause, 1),
    };
  }

  /** Forgets what was counted (the next measured interval starts from zero). */
  reset(): void {
    this.series.clear();
  }
}

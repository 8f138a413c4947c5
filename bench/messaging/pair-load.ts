/**
 * Load of N sender→receiver pairs against any server, through a small driver
 * interface, so the same client measures Parley and the bare relay in one run.
 *
 * Two modes:
 * - peak: each pair keeps `window` messages in flight for `durationS`; the
 *   result is delivered messages per second.
 * - rate: the pairs together send `rate` messages per second on a fixed
 *   schedule; latency is measured from the *scheduled* send time, so a
 *   stalled server is not hidden by a stalled client (coordinated omission).
 */
import { LatencyRecorder, type LatencySummary } from '../lib/latency.ts';

/** One connected sender→receiver pair as a driver provides it. */
export interface PairConnection {
  /** Sends message `seq` of this pair, stamped with `sentAtMs` (performance.now()). */
  send(seq: number, sentAtMs: number): void;
  /** Set by the load: called when the receiver gets message `seq`. */
  onDelivered: (seq: number, sentAtMs: number) => void;
  close(): Promise<void>;
}

/** Connects pairs to one server under test. */
export interface PairDriver {
  readonly name: string;
  connectPair(index: number): Promise<PairConnection>;
}

/** Options of one load run. */
export interface PairLoadOptions {
  /** @default 50 */
  readonly pairs: number;
  /** Messages in flight per pair (peak mode). @default 32 */
  readonly window: number;
  /** Measured seconds, after `warmupS`. @default 10 */
  readonly durationS: number;
  /** @default 2 */
  readonly warmupS: number;
  /** Total messages per second (rate mode); undefined = peak mode. */
  readonly rate: number | undefined;
  /** Called when the measured interval starts (true) and ends (false), e.g. to sample server CPU over it alone. */
  readonly onMeasuring?: (measuring: boolean) => void;
}

export const DEFAULT_PAIR_LOAD: PairLoadOptions = { pairs: 50, window: 32, durationS: 10, warmupS: 2, rate: undefined };

/** Result of one run. */
export interface PairLoadResult {
  readonly driver: string;
  readonly mode: 'peak' | 'rate';
  readonly delivered: number;
  readonly msgsPerS: number;
  readonly latency: LatencySummary;
  /** Messages sent but not delivered by the end (should be bounded by the window). */
  readonly outstandingAtEnd: number;
}

/** Runs the load and closes every pair. */
export async function runPairLoad(driver: PairDriver, options: Partial<PairLoadOptions> = {}): Promise<PairLoadResult> {
  const o: PairLoadOptions = { ...DEFAULT_PAIR_LOAD, ...options };
  const pairs = await Promise.all(Array.from({ length: o.pairs }, (_, i) => driver.connectPair(i)));
  const inFlight = new Array<number>(o.pairs).fill(0);
  const nextSeq = new Array<number>(o.pairs).fill(0);
  const latency = new LatencyRecorder();
  let measuring = false;
  let running = true;
  let delivered = 0;

  const sendOne = (i: number, at: number) => {
    inFlight[i]!++;
    pairs[i]!.send(nextSeq[i]!++, at);
  };
  pairs.forEach((pair, i) => {
    pair.onDelivered = (_seq, sentAt) => {
      inFlight[i]!--;
      if (measuring) {
        delivered++;
        latency.recordMs(performance.now() - sentAt);
      }
      if (running && o.rate === undefined) sendOne(i, performance.now());
    };
  });

  let timer: NodeJS.Timeout | undefined;
  if (o.rate === undefined) {
    for (let i = 0; i < o.pairs; i++) for (let w = 0; w < o.window; w++) sendOne(i, performance.now());
  } else {
    // Open loop: a 1 ms tick sends what is due since the start, round robin;
    // a pair whose window is full skips its turn (that lateness is measured).
    const start = performance.now();
    const intervalMs = 1000 / o.rate;
    let sent = 0;
    let cursor = 0;
    timer = setInterval(() => {
      // Message k is due at start + k·interval: k = 0 … floor(elapsed / interval) are due.
      const due = Math.floor((performance.now() - start) / intervalMs) + 1;
      for (let tries = 0; sent < due && tries < o.pairs * 2; tries++) {
        const i = cursor++ % o.pairs;
        if (inFlight[i]! >= o.window) continue;
        sendOne(i, start + sent * intervalMs);
        sent++;
      }
    }, 1);
  }
  await new Promise((r) => setTimeout(r, o.warmupS * 1000));
  measuring = true;
  o.onMeasuring?.(true);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  measuring = false;
  const elapsedS = (performance.now() - t0) / 1000;
  o.onMeasuring?.(false);
  running = false;
  if (timer) clearInterval(timer);
  const outstanding = inFlight.reduce((a, b) => a + b, 0);
  await Promise.all(pairs.map((p) => p.close()));
  return {
    driver: driver.name,
    mode: o.rate === undefined ? 'peak' : 'rate',
    delivered,
    msgsPerS: Math.round(delivered / elapsedS),
    latency: latency.summary(),
    outstandingAtEnd: outstanding,
  };
}

/** Live progress on stderr: one line a second (rewritten in place on a terminal). */
import type { WorkerProgress } from './worker-protocol.ts';

export interface ProgressView {
  readonly phase: string;
  readonly elapsedS: number;
  readonly planned: number;
  readonly workers: readonly WorkerProgress[];
  /** Deliveries per second since the last line. */
  readonly msgsPerS: number;
  readonly gatewayRssBytes: number;
}

/** Sums of the workers' latest progress. */
export function totals(workers: readonly WorkerProgress[]): { open: number; authenticated: number; registered: number; sent: number; deliveredTotal: number; reconnected: number; errors: number } {
  const t = { open: 0, authenticated: 0, registered: 0, sent: 0, deliveredTotal: 0, reconnected: 0, errors: 0 };
  for (const w of workers) {
    t.open += w.open;
    t.authenticated += w.authenticated;
    t.registered += w.registered;
    t.sent += w.sent;
    t.deliveredTotal += w.deliveredTotal;
    t.reconnected += w.reconnected;
    t.errors += w.errors;
  }
  return t;
}

export function progressLine(v: ProgressView): string {
  const t = totals(v.workers);
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [
    `[${v.elapsedS.toFixed(0).padStart(4)} s] ${v.phase.padEnd(6)}`,
    `open ${n(t.open)}/${n(v.planned)}`,
    `logins ${n(t.authenticated)}`,
  ];
  if (t.registered > 0) parts.push(`registered ${n(t.registered)}`);
  if (t.sent > 0) parts.push(`sent ${n(t.sent)}`, `${n(Math.round(v.msgsPerS))} msgs/s`);
  if (t.reconnected > 0) parts.push(`reconnected ${n(t.reconnected)}`);
  parts.push(`errors ${n(t.errors)}`, `gateways RSS ${(v.gatewayRssBytes / 2 ** 30).toFixed(2)} GiB`);
  return parts.join('  ');
}

/** Writes progress lines: in place on a TTY, one every `everyS` seconds otherwise. */
export class ProgressPrinter {
  private lastPlain = 0;
  constructor(private readonly enabled: boolean, private readonly everyS = 5) {}

  print(view: ProgressView, force = false): void {
    if (!this.enabled) return;
    const line = progressLine(view);
    if (process.stderr.isTTY) {
      process.stderr.write(`\r\x1b[2K${line}`);
    } else if (force || view.elapsedS - this.lastPlain >= this.everyS) {
      this.lastPlain = view.elapsedS;
      process.stderr.write(`${line}\n`);
    }
  }

  end(): void {
    if (this.enabled && process.stderr.isTTY) process.stderr.write('\n');
  }
}

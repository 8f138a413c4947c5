/** What a worker counts while it runs; turned into a WorkerReport at the end. */
import { Histogram } from './histogram.ts';
import type { WorkerCounters, WorkerPhases } from './report.ts';

export class WorkerStats implements Record<keyof WorkerCounters, number> {
  planned = 0;
  opened = 0;
  authenticated = 0;
  openAtHoldEnd = 0;
  registered = 0;
  sent = 0;
  delivered = 0;
  deliveredTotal = 0;
  reconnected = 0;
  pingsAnswered = 0;
  closedByServer = 0;
  /** Currently open, logged-in devices. */
  open = 0;
  readonly login = new Histogram();
  readonly message = new Histogram();
  readonly reconnect = new Histogram();
  readonly errors: Record<string, number> = {};
  errorsTotal = 0;
  holdCpuMs = 0;
  readonly phases: { -readonly [K in keyof WorkerPhases]: number } = {
    setupStart: 0, setupEnd: 0, rampStart: 0, rampEnd: 0, measureStart: 0, measureEnd: 0, stormStart: 0, stormEnd: 0,
  };

  error(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    this.errorsTotal++;
  }

  counters(): WorkerCounters {
    const { planned, opened, authenticated, openAtHoldEnd, registered, sent, delivered, deliveredTotal, reconnected, pingsAnswered, closedByServer } = this;
    return { planned, opened, authenticated, openAtHoldEnd, registered, sent, delivered, deliveredTotal, reconnected, pingsAnswered, closedByServer };
  }
}

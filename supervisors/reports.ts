/**
 * Supervisor and crash reports as a structured event stream (OTP's progress,
 * supervisor and crash reports). Reports carry ids, paths and exit reasons (with
 * stacks); never a message payload. Tools subscribe with a callback or iterate
 * with `for await`; `logReports` writes them as one pino line each.
 */
import { isNormalExit, type ExitReason, type Ref } from './types.ts';

/**
 * What happened:
 * - `started`: a supervisor started a child (progress report).
 * - `restarted`: a supervisor restarted a child after it exited.
 * - `crash`: a process exited abnormally by its own doing (crash report).
 * - `child_exited`: a supervisor saw a child exit (any reason).
 * - `start_error`: a child's start failed.
 * - `shutdown`: a supervisor shut a child down (`reason` is how it ended).
 * - `shutdown_error`: a child ended with another reason than the one sent, or had to be killed.
 * - `max_intensity`: a supervisor reached its restart intensity and exits `shutdown`.
 */
export type ReportKind =
  | 'started'
  | 'restarted'
  | 'crash'
  | 'child_exited'
  | 'start_error'
  | 'shutdown'
  | 'shutdown_error'
  | 'max_intensity';

/** One report. `supervisor` is the supervisor's nact path (or the parent's for `crash`). */
export interface Report {
  readonly kind: ReportKind;
  /** Wall-clock time, ms since the epoch. */
  readonly at: number;
  readonly node: string;
  readonly supervisor: string | undefined;
  readonly childId: string | undefined;
  readonly ref: Ref | undefined;
  readonly behaviour: string | undefined;
  readonly reason: ExitReason | undefined;
  /** Stack of the exception behind a crash, when there is one. */
  readonly stack: string | undefined;
}

/** Receives reports. */
export type ReportListener = (report: Report) => void;

/** The minimal pino-compatible logger `logReports` writes to. */
export interface ReportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A node's report stream. */
export class ReportStream implements AsyncIterable<Report> {
  private listeners: ReportListener[] = [];

  /** Whether anyone listens (reports are not even built otherwise). */
  get active(): boolean {
    return this.listeners.length > 0;
  }

  /** Calls `listener` for every report from now on; returns the unsubscribe function. */
  subscribe(listener: ReportListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Publishes a report. A throwing listener is removed, never allowed to break the runtime. */
  emit(report: Report): void {
    for (const l of this.listeners) {
      try {
        l(report);
      } catch {
        this.listeners = this.listeners.filter((x) => x !== l);
      }
    }
  }

  /** Iterates reports as they happen; `break` unsubscribes. */
  [Symbol.asyncIterator](): AsyncIterator<Report> {
    const queue: Report[] = [];
    let wake: ((r: IteratorResult<Report>) => void) | undefined;
    const unsubscribe = this.subscribe((r) => {
      if (wake !== undefined) {
        const w = wake;
        wake = undefined;
        w({ value: r, done: false });
      } else queue.push(r);
    });
    return {
      next: () => {
        const r = queue.shift();
        if (r !== undefined) return Promise.resolve({ value: r, done: false });
        return new Promise((resolve) => {
          wake = resolve;
        });
      },
      return: () => {
        unsubscribe();
        wake?.({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Writes every report of `stream` to `logger` (e.g. pino), one line each; returns the unsubscribe function. */
export function logReports(stream: ReportStream, logger: ReportLogger): () => void {
  return stream.subscribe((r) => {
    const line = { report: r.kind, node: r.node, supervisor: r.supervisor, childId: r.childId, ref: r.ref, behaviour: r.behaviour, reason: r.reason, stack: r.stack };
    if (r.kind === 'crash' || r.kind === 'start_error' || r.kind === 'max_intensity' || r.kind === 'shutdown_error') logger.error(line, r.kind);
    // A child that exits normally (normal, shutdown, {shutdown, _}) is routine: every closed connection does.
    else if (r.kind === 'restarted' || (r.kind === 'child_exited' && (r.reason === undefined || !isNormalExit(r.reason)))) logger.warn(line, r.kind);
    else logger.info(line, r.kind);
  });
}

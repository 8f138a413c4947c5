/**
 * Group commit through the writer thread (see sqlite-writer-thread.ts).
 * Writes queue here; up to two groups are in the thread (one committing, the
 * next waiting, so the thread never idles for a round trip); when one
 * answers, everything that queued meanwhile goes as the next group. So under
 * load a group is what arrived during one commit, and an idle node commits a
 * lone write at once. Promises settle only after their group committed.
 *
 * Fail-stop: after a retryable failure the thread fails the rest of that
 * group and every later group until this side has heard of the failure and
 * says `resume`; this side then also fails every write still queued here. So
 * nothing enqueued before the caller learns of the failure commits after the
 * failed write (InboxStore.pipelined).
 */
import { Worker } from 'node:worker_threads';
import { StoreError, type StoreErrorCode } from '../errors.ts';
import { isParleyError } from '../../protocol/errors.ts';
import type { InboxWrite } from './sqlite-inbox-writer.ts';
import type { WireError, WireResult, WriterThreadData } from './sqlite-writer-thread.ts';
import { threadEntry } from './thread-entry.ts';

interface Queued {
  readonly write: InboxWrite;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Writes executed by a dedicated thread owning the write connection. */
export class WriterThreadQueue {
  readonly failStop = true;
  private readonly worker: Worker;
  private queue: Queued[] = [];
  /** Groups posted to the thread and not answered yet, oldest first. */
  private readonly inFlight: Queued[][] = [];
  private flushScheduled = false;
  private closed = false;
  private drained: (() => void) | undefined;

  /**
   * @param maxGroup most writes per transaction @default 2000
   * @param maxInFlight groups in the thread at once @default 2
   */
  constructor(data: WriterThreadData, private readonly maxGroup = 2000, private readonly maxInFlight = 2) {
    // No inherited execArgv: from source the entry registers tsx itself, and a parent's
    // preloads (--import of a bench or test harness) must not run in the writer.
    this.worker = new Worker(threadEntry('sqlite-writer-thread'), { workerData: data, execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (results: WireResult[]) => this.onResults(results));
    this.worker.on('error', (err) => this.failAll(new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `inbox writer thread failed: ${err.message}`, { cause: err })));
  }

  enqueue(write: InboxWrite): Promise<unknown> {
    if (this.closed) return Promise.reject(new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', 'inbox.write: the embedded store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      if (this.inFlight.length < this.maxInFlight && !this.flushScheduled) {
        // Let the rest of this turn's writes join the group.
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Waits for every queued write, then stops the thread (its connection closes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight.length > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => { this.drained = resolve; this.flush(); });
    }
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref(); // keep the process alive until the thread has closed its connection
    this.worker.postMessage('close');
    await exited;
  }

  private flush(): void {
    while (this.inFlight.length < this.maxInFlight && this.queue.length > 0) {
      const group = this.queue.length <= this.maxGroup ? this.queue : this.queue.slice(0, this.maxGroup);
      this.queue = this.queue.length <= this.maxGroup ? [] : this.queue.slice(this.maxGroup);
      this.inFlight.push(group);
      this.worker.ref(); // a commit in flight keeps the process alive until it answers
      this.worker.postMessage({ writes: group.map((q) => q.write) });
    }
  }

  private onResults(results: WireResult[]): void {
    const group = this.inFlight.shift() ?? [];
    if (this.inFlight.length === 0) this.worker.unref();
    let stopped: Error | undefined;
    for (let i = 0; i < group.length; i++) {
      const r = results[i]!;
      if (r.ok) group[i]!.resolve(r.value);
      else {
        const err = fromWire(r.error);
        if (stopped === undefined && isRetryable(err)) stopped = err;
        group[i]!.reject(err);
      }
    }
    if (stopped !== undefined) {
      const queued = this.queue;
      this.queue = [];
      const err = new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `inbox.write: not attempted, an earlier write failed (${stopped.message})`);
      for (const q of queued) q.reject(err);
      // Groups posted from now on were enqueued after the caller heard: the thread may run them.
      this.worker.postMessage('resume');
    }
    if (this.queue.length > 0) this.flush();
    else if (this.inFlight.length === 0 && this.drained !== undefined) this.drained();
  }

  private failAll(err: StoreError): void {
    for (const q of [...this.inFlight.flat(), ...this.queue]) q.reject(err);
    this.inFlight.length = 0;
    this.queue = [];
    this.closed = true;
    this.drained?.();
  }
}

function isRetryable(err: Error): boolean {
  return isParleyError(err) && err.retryable;
}

function fromWire(e: WireError): Error {
  if (e.store && e.code !== undefined) return new StoreError(e.code as StoreErrorCode, e.message, e.details === undefined ? undefined : { details: e.details });
  const err = new Error(e.message) as Error & { code?: string };
  if (e.code !== undefined) err.code = e.code;
  return err;
}

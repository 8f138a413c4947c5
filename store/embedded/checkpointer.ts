/**
 * Main-thread side of the checkpoint thread (sqlite-checkpoint-thread.ts):
 * starts it, relays its reports, stops it on close.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { CheckpointReport, CheckpointThreadData } from './sqlite-checkpoint-thread.ts';
import { threadEntry } from './thread-entry.ts';

/** Pages of WAL after which a committing connection checkpoints itself: only if the thread falls far behind (or is gone). */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 16384;

/** Default period of the checkpoint thread. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 100;

export class Checkpointer extends EventEmitter<{ checkpoint: [CheckpointReport] }> {
  private readonly worker: Worker;
  private closed = false;
  private readonly exited: Promise<void>;

  constructor(data: CheckpointThreadData) {
    super();
    this.worker = new Worker(threadEntry('sqlite-checkpoint-thread'), { workerData: data, execArgv: [] });
    this.worker.unref();
    this.exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (report: CheckpointReport) => this.emit('checkpoint', report));
    // A failed thread leaves the backstop auto-checkpoint on the other connections: the WAL stays bounded.
    this.worker.on('error', (err) => this.emit('checkpoint', { ok: false, message: `checkpoint thread failed: ${err.message}` }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.ref();
    this.worker.postMessage('close');
    await this.exited;
  }
}

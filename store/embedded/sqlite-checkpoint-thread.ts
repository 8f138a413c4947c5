/**
 * Entry of the embedded store's checkpoint thread. WAL checkpoints copy the
 * log back into the database file and fsync it: several milliseconds each on
 * this class of disk. Left to SQLite's auto-checkpoint they run inside the
 * commit that crosses the threshold — on the writer thread, stalling every
 * message of that group and the groups behind it (the embedded node's p99),
 * or on the event loop when the main connection happens to commit. So both
 * of those connections turn auto-checkpoint down to a backstop and this
 * thread, with its own connection, runs PASSIVE checkpoints on a timer:
 * PASSIVE never blocks a writer or a reader, it copies what it can; the WAL
 * restarts from its beginning at the first commit after a complete one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** What the main thread passes at start. */
export interface CheckpointThreadData {
  readonly path: string;
  readonly busyTimeoutMs: number;
  readonly intervalMs: number;
}

/** What the thread reports after each checkpoint that found frames to copy, or failed. */
export type CheckpointReport =
  | { readonly ok: true; readonly logFrames: number; readonly checkpointedFrames: number; readonly durationMs: number }
  | { readonly ok: false; readonly message: string };

const data = workerData as CheckpointThreadData;
const db = new Database(data.path, { timeout: data.busyTimeoutMs });
db.pragma('wal_autocheckpoint = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

let lastLog = -1;
const run = () => {
  const t0 = performance.now();
  try {
    const row = checkpoint.get() as { busy: number; log: number; checkpointed: number };
    // Report work done (not the idle ticks of an unchanged, fully copied log).
    if (row.log !== lastLog || row.checkpointed !== row.log) {
      lastLog = row.log;
      parentPort!.postMessage({ ok: true, logFrames: row.log, checkpointedFrames: row.checkpointed, durationMs: performance.now() - t0 } satisfies CheckpointReport);
    }
  } catch (err) {
    parentPort!.postMessage({ ok: false, message: String((err as Error)?.message ?? err) } satisfies CheckpointReport);
  }
};
const timer = setInterval(run, data.intervalMs);

parentPort!.on('message', (msg: 'close') => {
  if (msg !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort!.close();
});

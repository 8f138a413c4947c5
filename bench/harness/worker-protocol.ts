/** Messages between the orchestrator and its worker processes (IPC, JSON). */
import type { BenchConfig } from './config.ts';
import type { WorkerReport } from './report.ts';
import type { WorkerShard } from './sharding.ts';

/** Steps the orchestrator asks every worker to run, in this order (each optional but `ramp`). */
export type WorkerStep = 'setup' | 'ramp' | 'hold' | 'storm';

export type ToWorker =
  | { readonly t: 'init'; readonly config: BenchConfig; readonly shard: WorkerShard; readonly workers: number; readonly addresses: readonly string[]; readonly targets: readonly string[] }
  | { readonly t: 'step'; readonly step: WorkerStep }
  | { readonly t: 'stop' };

/** A worker's live figures, sent every second. */
export interface WorkerProgress {
  readonly worker: number;
  readonly step: WorkerStep | 'init' | 'stopping';
  readonly open: number;
  readonly authenticated: number;
  readonly registered: number;
  readonly sent: number;
  readonly deliveredTotal: number;
  readonly reconnected: number;
  readonly errors: number;
}

export type FromWorker =
  | { readonly t: 'ready'; readonly worker: number }
  | { readonly t: 'progress'; readonly progress: WorkerProgress }
  | { readonly t: 'done'; readonly worker: number; readonly step: WorkerStep }
  | { readonly t: 'report'; readonly report: WorkerReport }
  | { readonly t: 'fatal'; readonly worker: number; readonly message: string };

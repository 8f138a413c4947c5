/**
 * Worker process of `parley bench` (forked by the orchestrator, one per
 * ≤ 19,000 connections): runs the steps it is told on its shard, sends
 * progress every second and its WorkerReport when stopped, then exits.
 *
 * Bounded on its own: it exits when the orchestrator goes away (IPC
 * disconnect) and after the run's maxDurationS + 60 s whatever happens.
 */
import { dropAll, hold, ramp, setup, storm, type WorkerContext } from './scenarios.ts';
import { closeSecure, pairsSecure, rampSecure } from './e2ee-pairs.ts';
import type { FromWorker, ToWorker, WorkerStep } from './worker-protocol.ts';
import type { WorkerReport } from './report.ts';
import { WorkerStats } from './worker-stats.ts';

const send = (m: FromWorker) => { process.send?.(m); };
let ctx: WorkerContext | undefined;
let step: WorkerStep | 'init' | 'stopping' = 'init';
let progressTimer: NodeJS.Timeout | undefined;

function progress(): void {
  if (ctx === undefined) return;
  const s = ctx.stats;
  send({
    t: 'progress',
    progress: {
      worker: ctx.shard.index, step, open: s.open, authenticated: s.authenticated, registered: s.registered,
      sent: s.sent, deliveredTotal: s.deliveredTotal, reconnected: s.reconnected, errors: s.errorsTotal,
    },
  });
}

function report(c: WorkerContext): WorkerReport {
  const cpu = process.cpuUsage();
  const s = c.stats;
  return {
    worker: c.shard.index,
    counters: s.counters(),
    histograms: { login: s.login.encode(), message: s.message.encode(), reconnect: s.reconnect.encode() },
    errors: { ...s.errors },
    phases: { ...s.phases },
    rssBytes: process.memoryUsage().rss,
    cpuMs: (cpu.user + cpu.system) / 1000,
    holdCpuMs: c.stats.holdCpuMs,
  };
}

async function runStep(c: WorkerContext, which: WorkerStep): Promise<void> {
  step = which;
  if (which === 'setup') await setup(c);
  else if (which === 'ramp') await (c.config.e2ee ? rampSecure(c) : ramp(c));
  else if (which === 'hold') {
    const before = process.cpuUsage();
    await (c.config.e2ee ? pairsSecure(c) : hold(c));
    const used = process.cpuUsage(before);
    c.stats.holdCpuMs = (used.user + used.system) / 1000;
  }
  else await storm(c);
  progress();
  send({ t: 'done', worker: c.shard.index, step: which });
}

async function stop(c: WorkerContext): Promise<void> {
  step = 'stopping';
  // A run stopped early (deadline, Ctrl-C) still reports the phase it was in, up to now.
  const p = c.stats.phases;
  const now = Date.now();
  if (p.setupStart > 0 && p.setupEnd === 0) p.setupEnd = now;
  if (p.rampStart > 0 && p.rampEnd === 0) p.rampEnd = now;
  if (p.measureStart > 0 && p.measureEnd === 0) p.measureEnd = now;
  if (p.stormStart > 0 && p.stormEnd === 0) p.stormEnd = now;
  if (c.stats.openAtHoldEnd === 0) c.stats.openAtHoldEnd = c.stats.open;
  dropAll(c);
  await closeSecure(c);
  if (progressTimer !== undefined) clearInterval(progressTimer);
  send({ t: 'report', report: report(c) });
  // Let the IPC message leave before exiting.
  await new Promise((r) => setTimeout(r, 200));
  process.exit(0);
}

process.on('disconnect', () => process.exit(3));
process.on('message', (m: ToWorker) => {
  if (m.t === 'init') {
    ctx = {
      config: m.config, shard: m.shard, workers: m.workers, addresses: m.addresses, targets: m.targets,
      stats: new WorkerStats(), registrationId: 1 + (m.shard.index % 16000),
      devices: new Array(m.shard.count).fill(undefined), credentials: new Array(m.shard.count).fill(undefined), stopping: false,
    };
    setTimeout(() => process.exit(4), (m.config.maxDurationS + 60) * 1000).unref();
    progressTimer = setInterval(progress, 1000);
    send({ t: 'ready', worker: m.shard.index });
    return;
  }
  const c = ctx;
  if (c === undefined) return;
  if (m.t === 'stop') {
    void stop(c);
    return;
  }
  runStep(c, m.step).catch((err: unknown) => {
    send({ t: 'fatal', worker: c.shard.index, message: err instanceof Error ? err.stack ?? err.message : String(err) });
  });
});

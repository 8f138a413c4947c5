/**
 * Entry of the gateway node processes a bench starts (`node --expose-gc
 * dist/bench/harness/node-entry.js start …`, the compiled build as `npm
 * start` runs it; bench/lib/build.ts): installs the memory probe, then runs
 * the ordinary `parley` CLI. The probe answers the orchestrator's `probe`
 * over IPC with the process's memory after a full GC (RSS and JS heap per
 * connection are measured this way, not guessed from a noisy RSS), and stops
 * the node (SIGTERM, a graceful stop) if the orchestrator goes away.
 * With PARLEY_BENCH_HEAP_SNAPSHOTS set, the orchestrator also asks gateway-0
 * for a heap snapshot (`snapshot`) at baseline and loaded.
 * Nothing in the node itself changes. (Not a `--import` preload: worker
 * threads inherit execArgv, and the embedded store's writer thread must not
 * load this.)
 */
import { writeHeapSnapshot } from 'node:v8';

if (process.send !== undefined) {
  process.on('message', (m: { t?: string; path?: string }) => {
    if (m?.t === 'snapshot' && m.path !== undefined) {
      writeHeapSnapshot(m.path);
      process.send?.({ t: 'snapshot', path: m.path });
      return;
    }
    if (m?.t !== 'probe') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc !== undefined) {
      gc();
      gc();
    }
    const mu = process.memoryUsage();
    process.send?.({ t: 'probe', rssBytes: mu.rss, heapBytes: mu.heapUsed, externalBytes: mu.external, gc: gc !== undefined });
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel?.unref();
}
await import('../../server/cli.ts');

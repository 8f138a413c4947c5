/**
 * CPU and RSS of a set of processes over one measurement: the node processes
 * the bench started, the shared services they use (Cassandra, nats-server,
 * found by command line in /proc) and the load client itself. On a 2-core
 * box these compete for the same cores, so their shares say where time goes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { cpuCores, sampleProcess, type UsageSample } from '../lib/process-usage.ts';

/** A process to watch, under a label. */
export interface Watched {
  readonly label: string;
  readonly pid: number;
}

/** CPU (cores) and RSS (MB) of one watched process over a measurement. */
export interface ProcessUsage {
  readonly label: string;
  readonly cpuCores: number;
  readonly rssMb: number;
}

/**
 * The process whose command line contains `needle` (e.g. 'CassandraDaemon'),
 * if any: the largest by RSS, as a supervising shell script names it too.
 */
export function findProcess(label: string, needle: string): Watched | undefined {
  let best: { pid: number; rss: number } | undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) continue;
      const rss = sampleProcess(Number(entry)).rssBytes;
      if (best === undefined || rss > best.rss) best = { pid: Number(entry), rss };
    } catch {
      // exited while we looked
    }
  }
  return best === undefined ? undefined : { label, pid: best.pid };
}

/** Starts watching; `stop` returns each process's CPU over the interval and its RSS at the end. */
export function watch(processes: readonly Watched[]): { stop(): ProcessUsage[] } {
  const before = new Map<number, UsageSample>(processes.map((p) => [p.pid, sampleProcess(p.pid)]));
  const selfBefore = process.cpuUsage();
  const t0 = performance.now();
  return {
    stop() {
      const out = processes.map((p) => {
        const after = sampleProcess(p.pid);
        return { label: p.label, cpuCores: round2(cpuCores(before.get(p.pid)!, after)), rssMb: Math.round(after.rssBytes / 1e6) };
      });
      const self = process.cpuUsage(selfBefore);
      const wallMs = performance.now() - t0;
      out.push({ label: 'load client', cpuCores: round2((self.user + self.system) / 1000 / wallMs), rssMb: Math.round(process.memoryUsage.rss() / 1e6) });
      return out;
    },
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

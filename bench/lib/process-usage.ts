/**
 * CPU and memory of another process, read from /proc (Linux): the bench
 * samples the server it started, not itself.
 */
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64
const PAGE_BYTES = 4096;

/** One sample of a process's cumulative CPU time and resident memory. */
export interface UsageSample {
  readonly atMs: number;
  readonly cpuMs: number;
  readonly rssBytes: number;
}

/** Reads the cumulative user+system CPU time and RSS of `pid`. */
export function sampleProcess(pid: number): UsageSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { atMs: performance.now(), cpuMs: ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND, rssBytes: rssPages * PAGE_BYTES };
}

/** CPU use between two samples as a fraction of one core (1.0 = one core busy). */
export function cpuCores(from: UsageSample, to: UsageSample): number {
  const wall = to.atMs - from.atMs;
  return wall > 0 ? (to.cpuMs - from.cpuMs) / wall : 0;
}

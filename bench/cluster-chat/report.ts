/**
 * What the cluster-chat bench prints: each measurement, the median of each
 * (setup, mode) over the rounds, and the ratios against the issue's targets.
 * Medians, not means: on a shared 2-core box one round can lose half its
 * throughput to a neighbour, and a median of 3 ignores that round.
 */
import type { PairLoadResult } from '../messaging/pair-load.ts';
import type { ProcessUsage } from './process-watch.ts';

export type SetupName = 'single-node' | 'cross-node';

/** Targets of the issue. */
export const TARGETS = { throughputRatio: 0.5, p50AddedMs: 1, atRate: 5000 } as const;

/** One measurement: a pair load against one setup, in one mode, in one round. */
export interface Measured extends PairLoadResult {
  readonly setup: SetupName;
  readonly round: number;
  /** Offered msg/s (rate mode); undefined in peak mode. */
  readonly offeredRate: number | undefined;
  /** Rate mode delivered less than it was offered: its latency is a queue's, not the path's. */
  readonly saturated: boolean;
  /** Node processes, Cassandra, nats-server and the load client over the measured interval. */
  readonly usage: ProcessUsage[];
  /** CQL requests of all nodes per delivered message, by statement (--count-cql). */
  readonly cqlPerMsg?: Record<string, number>;
}

/** Medians of one (setup, mode) over the rounds. */
export interface Summary {
  readonly setup: SetupName;
  readonly mode: string;
  readonly offeredRate: number | undefined;
  readonly rounds: number;
  readonly saturatedRounds: number;
  readonly msgsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Per process label: median CPU (cores) and RSS (MB). */
  readonly usage: ProcessUsage[];
  /** CPU of all node processes per delivered message (ms). */
  readonly nodeCpuMsPerMsg: number;
  /** Median CQL requests per delivered message, by statement (--count-cql). */
  readonly cqlPerMsg?: Record<string, number>;
}

export interface Ratios {
  readonly peakThroughputCrossVsSingle: number;
  readonly throughputTargetMet: boolean;
  /** Per offered rate: cross − single (ms), and whether both sustained it. */
  readonly atRate: Array<{ rate: number; p50AddedMs: number; p99AddedMs: number; bothSustained: boolean }>;
  /** At TARGETS.atRate when measured (else the first rate): ≤ 1 ms added AND both setups sustained the rate. */
  readonly p50TargetMet: boolean;
  readonly p50TargetRate: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const isNode = (label: string): boolean => /^n\d+$/.test(label);
export const modeName = (offeredRate: number | undefined): string => (offeredRate === undefined ? 'peak' : `rate ${offeredRate}/s`);

export function summarise(results: readonly Measured[]): Summary[] {
  const groups = new Map<string, Measured[]>();
  for (const m of results) {
    const key = `${m.setup}|${modeName(m.offeredRate)}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = []));
    g.push(m);
  }
  return [...groups.values()].map((g) => {
    const first = g[0]!;
    const labels = first.usage.map((u) => u.label);
    const usage = labels.map((label) => {
      const us = g.map((m) => m.usage.find((u) => u.label === label)).filter((u): u is ProcessUsage => u !== undefined);
      return { label, cpuCores: r3(median(us.map((u) => u.cpuCores))), rssMb: Math.round(median(us.map((u) => u.rssMb))) };
    });
    const msgsPerS = Math.round(median(g.map((m) => m.msgsPerS)));
    const nodeCores = median(g.map((m) => m.usage.filter((u) => isNode(u.label)).reduce((a, u) => a + u.cpuCores, 0)));
    const counted = g.filter((m) => m.cqlPerMsg !== undefined);
    const statements = [...new Set(counted.flatMap((m) => Object.keys(m.cqlPerMsg!)))];
    const cql = counted.length === 0 ? {} : { cqlPerMsg: Object.fromEntries(statements.map((k) => [k, r3(median(counted.map((m) => m.cqlPerMsg![k] ?? 0)))])) };
    return {
      setup: first.setup,
      mode: modeName(first.offeredRate),
      offeredRate: first.offeredRate,
      rounds: g.length,
      saturatedRounds: g.filter((m) => m.saturated).length,
      msgsPerS,
      p50Ms: r3(median(g.map((m) => m.latency.p50Ms))),
      p99Ms: r3(median(g.map((m) => m.latency.p99Ms))),
      p999Ms: r3(median(g.map((m) => m.latency.p999Ms))),
      usage,
      nodeCpuMsPerMsg: msgsPerS > 0 ? r3((nodeCores * 1000) / msgsPerS) : 0,
      ...cql,
    };
  });
}

export function ratios(summaries: readonly Summary[], rates: readonly number[]): Ratios {
  const find = (setup: SetupName, offeredRate: number | undefined) => summaries.find((s) => s.setup === setup && s.offeredRate === offeredRate)!;
  // NaN without a peak block (--no-peak).
  const peakOf = (setup: SetupName) => summaries.find((s) => s.setup === setup && s.offeredRate === undefined)?.msgsPerS ?? NaN;
  const peak = peakOf('cross-node') / peakOf('single-node');
  const atRate = rates.map((rate) => {
    const single = find('single-node', rate);
    const cross = find('cross-node', rate);
    return { rate, p50AddedMs: r3(cross.p50Ms - single.p50Ms), p99AddedMs: r3(cross.p99Ms - single.p99Ms), bothSustained: single.saturatedRounds === 0 && cross.saturatedRounds === 0 };
  });
  const target = atRate.find((a) => a.rate === TARGETS.atRate) ?? atRate[0]!;
  return {
    peakThroughputCrossVsSingle: r3(peak),
    throughputTargetMet: peak >= TARGETS.throughputRatio,
    atRate,
    p50TargetMet: target.bothSustained && target.p50AddedMs <= TARGETS.p50AddedMs,
    p50TargetRate: target.rate,
  };
}

const cells = (usage: readonly ProcessUsage[], pick: (u: ProcessUsage) => number, nodes: boolean): string =>
  usage.filter((u) => isNode(u.label) === nodes).map((u) => `${nodes ? `${u.label} ` : ''}${pick(u)}`).join(', ') || '?';
const one = (usage: readonly ProcessUsage[], label: string): string => String(usage.find((u) => u.label === label)?.cpuCores ?? '?');

/** The markdown tables and the verdicts. */
export function printReport(results: readonly Measured[], summaries: readonly Summary[], r: Ratios, window: number, rounds: number): void {
  const head = '| setup | mode | delivered msg/s | p50 ms | p99 ms | p99.9 ms | node CPU (cores) | node CPU ms/msg | node RSS MB | Cassandra CPU | nats-server CPU | load client CPU |';
  const rule = '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const label = (mode: string, saturated: string) => `${mode === 'peak' ? `peak (window ${window})` : mode}${saturated}`;
  if (rounds > 1) {
    console.log(`\nEach measurement, in run order:\n\n${head.replace('| setup |', '| round | setup |')}\n| --- ${rule}`);
    for (const m of results) {
      const nodeCores = m.usage.filter((u) => isNode(u.label)).reduce((a, u) => a + u.cpuCores, 0);
      console.log(`| ${m.round} | ${m.setup} | ${label(modeName(m.offeredRate), m.saturated ? ' (saturated)' : '')} | ${m.msgsPerS} | ${m.latency.p50Ms} | ${m.latency.p99Ms} | ${m.latency.p999Ms} | ${cells(m.usage, (u) => u.cpuCores, true)} | ${m.msgsPerS > 0 ? r3((nodeCores * 1000) / m.msgsPerS) : 0} | ${cells(m.usage, (u) => u.rssMb, true)} | ${one(m.usage, 'cassandra')} | ${one(m.usage, 'nats-server')} | ${one(m.usage, 'load client')} |`);
    }
  }
  console.log(`\n${rounds > 1 ? `Medians over ${rounds} rounds:\n\n` : ''}${head}\n${rule}`);
  for (const s of summaries) {
    const sat = s.saturatedRounds > 0 ? ` (saturated${rounds > 1 ? ` ${s.saturatedRounds}/${s.rounds}` : ''})` : '';
    console.log(`| ${s.setup} | ${label(s.mode, sat)} | ${s.msgsPerS} | ${s.p50Ms} | ${s.p99Ms} | ${s.p999Ms} | ${cells(s.usage, (u) => u.cpuCores, true)} | ${s.nodeCpuMsPerMsg} | ${cells(s.usage, (u) => u.rssMb, true)} | ${one(s.usage, 'cassandra')} | ${one(s.usage, 'nats-server')} | ${one(s.usage, 'load client')} |`);
  }
  if (summaries.some((s) => s.cqlPerMsg !== undefined)) {
    console.log('\n| setup | mode | CQL requests per delivered message (all nodes) | by statement |\n| --- | --- | ---: | --- |');
    for (const s of summaries) {
      const by = Object.entries(s.cqlPerMsg ?? {}).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]);
      const total = r3(by.reduce((a, [, v]) => a + v, 0));
      console.log(`| ${s.setup} | ${label(s.mode, '')} | ${total} | ${by.map(([k, v]) => `${k} ${v}`).join(', ')} |`);
    }
  }
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  if (Number.isNaN(r.peakThroughputCrossVsSingle)) console.log('\ncross / single peak throughput: not measured (--no-peak)');
  else console.log(`\ncross / single peak throughput = ${r.peakThroughputCrossVsSingle} (target ≥ ${TARGETS.throughputRatio}: ${met(r.throughputTargetMet)})`);
  for (const a of r.atRate) {
    const verdict = a.rate === r.p50TargetRate ? ` (target ≤ ${TARGETS.p50AddedMs} ms at ${a.rate}/s: ${met(r.p50TargetMet)}${a.bothSustained ? '' : ', a setup did not sustain the rate: its latency is queueing'})` : a.bothSustained ? '' : ' (a setup did not sustain the rate)';
    console.log(`at ${a.rate}/s: p50 cross − single = ${a.p50AddedMs} ms${verdict}; p99 cross − single = ${a.p99AddedMs} ms`);
  }
}

/** The Markdown tables of the stores bench (the JSON line carries every figure; these are the ones to read). */
import type { LatencySummary } from '../lib/latency.ts';
import type { DiskReport, SettleReport } from './backends.ts';
import type { AppendLoadResult, DrainResult, FillHistoryResult } from './inbox-workload.ts';
import type { PreKeyLoadResult } from './prekey-workload.ts';

export interface WriteDrainFigures {
  readonly backend: string;
  readonly manyToMany: AppendLoadResult;
  readonly manyToOne: AppendLoadResult;
  readonly drainMany: DrainResult & { devices: number; sessions: number };
  readonly drainOne: DrainResult;
}

export interface DeviceRound {
  readonly drain: DrainResult;
  readonly firstPageWarm: LatencySummary & { entries: number };
  readonly firstPageCold: LatencySummary & { entries: number };
}

export interface HistoryRound {
  readonly label: string;
  readonly settle?: SettleReport;
  readonly disk: DiskReport;
  /** Entries acked in the history device's past when the round started. */
  readonly historyAcked: number;
  readonly backlog: number;
  readonly history: DeviceRound;
  readonly fresh: DeviceRound;
  /** history drain rate / fresh drain rate. */
  readonly drainRatio: number;
}

export interface HistoryFigures {
  readonly backend: string;
  readonly fill: FillHistoryResult;
  readonly diskAfterFill: DiskReport;
  readonly rounds: readonly HistoryRound[];
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const lat = (l: LatencySummary): string => `${ms(l.p50Ms)} / ${ms(l.p99Ms)}`;
const disk = (d: DiskReport): string =>
  d.walBytes !== undefined ? `db ${(d.bytes / 1048576).toFixed(1)} MiB, wal ${(d.walBytes / 1048576).toFixed(1)} MiB` : `${d.files} SSTables, ${(d.bytes / 1048576).toFixed(2)} MiB`;

export function markdown(r: {
  write: readonly WriteDrainFigures[];
  history: readonly HistoryFigures[];
  prekeys: readonly (PreKeyLoadResult & { store: string })[];
}): string {
  const out: string[] = [];
  out.push('| backend | appends/s, 64 appenders → 1,000 devices (warm) (p50 / p99 ms) | appends/s, 64 appenders → ONE device (p50 / p99 ms) | drain entries/s, 1,000 devices, 64 sessions | drain entries/s, ONE device (entries) |');
  out.push('| --- | ---: | ---: | ---: | ---: |');
  for (const w of r.write) {
    out.push(
      `| ${w.backend} | ${n(w.manyToMany.perSecond)} (${lat(w.manyToMany.latency)}) | ${n(w.manyToOne.perSecond)} (${lat(w.manyToOne.latency)}) | ` +
        `${n(w.drainMany.perSecond)} | ${n(w.drainOne.perSecond)} (${n(w.drainOne.entries)}) |`,
    );
  }
  out.push('');
  out.push('| backend | history built (acked, appends/s, s) | round | on disk | backlog | drain entries/s: fresh / history (ratio) | first page p50 / p99 ms, warm: fresh · history | cold store: fresh · history |');
  out.push('| --- | --- | --- | --- | ---: | ---: | --- | --- |');
  for (const h of r.history) {
    const built = `${n(h.fill.acked)}${h.fill.truncated ? ` (target ${n(h.fill.target)}, time-boxed)` : ''}, ${n(h.fill.appendsPerSecond)}/s, ${h.fill.seconds.toFixed(0)} s`;
    for (const [i, round] of h.rounds.entries()) {
      out.push(
        `| ${i === 0 ? h.backend : ''} | ${i === 0 ? built : `(${n(round.historyAcked)} acked by now)`} | ${round.label} | ${disk(round.disk)} | ${n(round.backlog)} | ` +
          `${n(round.fresh.drain.perSecond)} / ${n(round.history.drain.perSecond)} (**${round.drainRatio.toFixed(2)}**) | ` +
          `${lat(round.fresh.firstPageWarm)} · ${lat(round.history.firstPageWarm)} | ${lat(round.fresh.firstPageCold)} · ${lat(round.history.firstPageCold)} |`,
      );
    }
  }
  out.push('');
  out.push('| pre-key store | takeBundleKeys/s, 8 clients | p50 / p99 ms | takes | upload (s) |');
  out.push('| --- | ---: | ---: | ---: | ---: |');
  for (const p of r.prekeys) out.push(`| ${p.store} | ${n(p.perSecond)} | ${lat(p.latency)} | ${n(p.takes)} | ${p.uploadSeconds.toFixed(1)} |`);
  return out.join('\n');
}

/**
 * Reports: what each worker sends back at the end (WorkerReport), how the
 * orchestrator merges them (sums, exact HDR merges, error counts by code) and
 * the final BenchReport written as JSON and Markdown, with an optional
 * comparison against a previous report.
 */
import { mergeEncoded, type LatencyPercentiles } from './histogram.ts';

/** Latency histograms a worker records (encoded HDR, empty string when unused). */
export interface WorkerHistograms {
  /** connect → welcome, per connection (ramp and setup). */
  readonly login: string;
  /** send → deliver at the receiver (oneToOne, offline drain). */
  readonly message: string;
  /** drop → welcome again, per connection (reconnectStorm). */
  readonly reconnect: string;
}

/** Counters a worker keeps. */
export interface WorkerCounters {
  readonly planned: number;
  /** Sockets opened (including reconnections). */
  readonly opened: number;
  /** Welcomes received (including reconnections). */
  readonly authenticated: number;
  /** Authenticated connections open when the hold ended. */
  readonly openAtHoldEnd: number;
  /** Accounts registered in a setup phase (login `auth`, offline, reconnect). */
  readonly registered: number;
  readonly sent: number;
  /** Deliveries received, in the measured window only. */
  readonly delivered: number;
  /** Deliveries received in all. */
  readonly deliveredTotal: number;
  readonly reconnected: number;
  readonly pingsAnswered: number;
  /** Sockets the server closed while the client did not ask for it. */
  readonly closedByServer: number;
}

/** Wall-clock (Date.now) marks of a worker's phases; 0 when a phase did not run. */
export interface WorkerPhases {
  readonly setupStart: number;
  readonly setupEnd: number;
  readonly rampStart: number;
  readonly rampEnd: number;
  readonly measureStart: number;
  readonly measureEnd: number;
  readonly stormStart: number;
  readonly stormEnd: number;
}

/** What one worker process reports at the end. */
export interface WorkerReport {
  readonly worker: number;
  readonly counters: WorkerCounters;
  readonly histograms: WorkerHistograms;
  /** Errors by code: server error codes (PARLEY_ERR_*), close codes (`close:4440`), socket errors (ECONNRESET…), `timeout`. */
  readonly errors: Readonly<Record<string, number>>;
  readonly phases: WorkerPhases;
  readonly rssBytes: number;
  readonly cpuMs: number;
  /** CPU of this worker during the hold step (answering heartbeats when idle). */
  readonly holdCpuMs: number;
}

export const ZERO_COUNTERS: WorkerCounters = {
  planned: 0, opened: 0, authenticated: 0, openAtHoldEnd: 0, registered: 0, sent: 0, delivered: 0, deliveredTotal: 0,
  reconnected: 0, pingsAnswered: 0, closedByServer: 0,
};

/** Worker reports merged. */
export interface MergedWorkers {
  readonly workers: number;
  readonly counters: WorkerCounters;
  readonly latency: { readonly login: LatencyPercentiles; readonly message: LatencyPercentiles; readonly reconnect: LatencyPercentiles };
  readonly errors: Record<string, number>;
  readonly errorsTotal: number;
  /** Earliest start and latest end of each phase over the workers (0 = not run). */
  readonly phases: WorkerPhases;
  readonly loadGeneratorRssBytes: number;
  readonly loadGeneratorCpuMs: number;
  readonly loadGeneratorHoldCpuMs: number;
}

/** Merges worker reports: counters and errors summed, histograms merged exactly, phases spanned. */
export function mergeWorkerReports(reports: readonly WorkerReport[]): MergedWorkers {
  const counters: Record<keyof WorkerCounters, number> = { ...ZERO_COUNTERS };
  const errors: Record<string, number> = {};
  for (const r of reports) {
    for (const k of Object.keys(counters) as (keyof WorkerCounters)[]) counters[k] += r.counters[k];
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const span = (start: keyof WorkerPhases, end: keyof WorkerPhases) => {
    const starts = reports.map((r) => r.phases[start]).filter((t) => t > 0);
    const ends = reports.map((r) => r.phases[end]).filter((t) => t > 0);
    return [starts.length > 0 ? Math.min(...starts) : 0, ends.length > 0 ? Math.max(...ends) : 0] as const;
  };
  const [setupStart, setupEnd] = span('setupStart', 'setupEnd');
  const [rampStart, rampEnd] = span('rampStart', 'rampEnd');
  const [measureStart, measureEnd] = span('measureStart', 'measureEnd');
  const [stormStart, stormEnd] = span('stormStart', 'stormEnd');
  const hist = (k: keyof WorkerHistograms) => mergeEncoded(reports.map((r) => r.histograms[k])).summary;
  return {
    workers: reports.length,
    counters,
    latency: { login: hist('login'), message: hist('message'), reconnect: hist('reconnect') },
    errors: sortedErrors(errors),
    errorsTotal: Object.values(errors).reduce((a, b) => a + b, 0),
    phases: { setupStart, setupEnd, rampStart, rampEnd, measureStart, measureEnd, stormStart, stormEnd },
    loadGeneratorRssBytes: reports.reduce((a, r) => a + r.rssBytes, 0),
    loadGeneratorCpuMs: reports.reduce((a, r) => a + r.cpuMs, 0),
    loadGeneratorHoldCpuMs: reports.reduce((a, r) => a + r.holdCpuMs, 0),
  };
}

function sortedErrors(errors: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(errors).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

/** CPU and memory of one server process over the run. */
export interface ServerUsage {
  readonly name: string;
  readonly pid: number;
  /** Connections this node was planned to hold. */
  readonly connections: number;
  readonly cpuCoresAvg: number;
  readonly cpuCoresPeak: number;
  /** CPU during the hold step only (idle: heartbeats; oneToOne: the measured load). */
  readonly cpuCoresHold: number;
  readonly rssBytesPeak: number;
  /** After a full GC, before any client connected. */
  readonly rssBytesBaseline: number;
  readonly heapBytesBaseline: number;
  /** After a full GC, with every connection of the ramp open. */
  readonly rssBytesLoaded: number;
  readonly heapBytesLoaded: number;
  /** Its log lines at warn or worse, by event (e.g. `cluster.node_down`). */
  readonly warnings: Readonly<Record<string, number>>;
}

/** A run on clustered nodes (`--cluster`): what they shared and how it was removed. */
export interface ClusterReport {
  /** Cluster name, PostgreSQL schema and Cassandra keyspace of the run. */
  readonly name: string;
  readonly natsUrl: string;
  readonly nodes: number;
  /** Pairs split over two nodes and storm logins moved to another node. */
  readonly crossNode: boolean;
  readonly presence: 'redis' | 'memory' | 'unknown';
  /** Spawn of the first node → every node saw every other one up (0 when it never formed). */
  readonly readyS: number;
  /** `dropped`, `absent` (never created), or the error: for the schema, the keyspace and the KV stream. */
  readonly cleanup: { readonly pgSchema: string; readonly cassandraKeyspace: string; readonly kvStream: string };
}

/** Where the connections went. */
export interface BenchPlan {
  readonly workers: number;
  readonly sourceAddresses: readonly string[];
  readonly targets: readonly string[];
  readonly perWorker: readonly number[];
  /** Pairs (2k, 2k+1) whose ends are on different targets (sharding.ts). */
  readonly pairsAcrossNodes?: number;
}

/** The final report of a run. */
export interface BenchReport {
  readonly bench: 'parley-bench';
  readonly version: 1;
  readonly scenario: string;
  readonly date: string;
  readonly command: string;
  /** `completed`, or why the run ended early (`deadline`, `SIGINT`, `error: …`). */
  readonly outcome: string;
  readonly machine: { readonly cpus: number; readonly memoryGiB: number; readonly node: string; readonly loadAverage: readonly number[] };
  readonly config: Readonly<Record<string, unknown>>;
  readonly plan: BenchPlan;
  /** Null for independent nodes and for --target runs. */
  readonly cluster: ClusterReport | null;
  readonly durationS: number;
  readonly connections: { readonly planned: number; readonly opened: number; readonly authenticated: number; readonly openAtHoldEnd: number; readonly peakOpen: number; readonly registeredInSetup: number };
  /** Accounts registered before the ramp (login `auth`, offline receivers): one server key check and DB write each. */
  readonly setup: { readonly seconds: number; readonly registeredPerS: number } | null;
  readonly ramp: { readonly seconds: number; readonly connectionsPerS: number; readonly login: LatencyPercentiles };
  readonly throughput: { readonly sent: number; readonly delivered: number; readonly deliveredTotal: number; readonly windowS: number; readonly msgsPerS: number };
  readonly latency: { readonly message: LatencyPercentiles; readonly login: LatencyPercentiles; readonly reconnect: LatencyPercentiles };
  readonly reconnectStorm: { readonly reconnected: number; readonly seconds: number; readonly perS: number } | null;
  readonly heartbeats: { readonly pingsAnswered: number };
  readonly errors: Readonly<Record<string, number>>;
  readonly errorsTotal: number;
  readonly servers: readonly ServerUsage[];
  readonly memoryPerConnection: { readonly gatewayRssBytes: number; readonly gatewayHeapBytes: number; readonly loadGeneratorRssBytes: number } | null;
  readonly loadGenerator: { readonly workers: number; readonly rssBytes: number; readonly cpuCoresAvg: number; readonly cpuCoresHold: number };
  readonly comparison: Comparison | null;
}

/** Inputs of `buildReport` that are not in the worker reports. */
export interface ReportContext {
  readonly scenario: string;
  readonly command: string;
  readonly outcome: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly machine: BenchReport['machine'];
  readonly config: Readonly<Record<string, unknown>>;
  readonly plan: BenchPlan;
  readonly cluster: ClusterReport | null;
  readonly servers: readonly ServerUsage[];
  readonly peakOpen: number;
}

const seconds = (from: number, to: number) => (from > 0 && to > from ? (to - from) / 1000 : 0);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** The final report from merged worker reports and what the orchestrator measured. */
export function buildReport(merged: MergedWorkers, ctx: ReportContext): BenchReport {
  const c = merged.counters;
  const rampS = seconds(merged.phases.rampStart, merged.phases.rampEnd);
  const setupS = seconds(merged.phases.setupStart, merged.phases.setupEnd);
  const windowS = seconds(merged.phases.measureStart, merged.phases.measureEnd);
  const stormS = seconds(merged.phases.stormStart, merged.phases.stormEnd);
  const durationS = seconds(ctx.startedAt, ctx.endedAt);
  const loaded = ctx.servers.filter((s) => s.rssBytesLoaded > 0);
  const held = c.openAtHoldEnd > 0 ? c.openAtHoldEnd : c.authenticated;
  const perConn = (bytes: number) => (held > 0 ? Math.round(bytes / held) : 0);
  const memoryPerConnection = loaded.length > 0 && held > 0
    ? {
      gatewayRssBytes: perConn(loaded.reduce((a, s) => a + s.rssBytesLoaded - s.rssBytesBaseline, 0)),
      gatewayHeapBytes: perConn(loaded.reduce((a, s) => a + s.heapBytesLoaded - s.heapBytesBaseline, 0)),
      loadGeneratorRssBytes: perConn(merged.loadGeneratorRssBytes),
    }
    : null;
  return {
    bench: 'parley-bench', version: 1, scenario: ctx.scenario, date: new Date(ctx.startedAt).toISOString(), command: ctx.command, outcome: ctx.outcome,
    machine: ctx.machine, config: ctx.config, plan: ctx.plan, cluster: ctx.cluster, durationS: round(durationS),
    connections: {
      planned: c.planned, opened: c.opened, authenticated: c.authenticated, openAtHoldEnd: c.openAtHoldEnd,
      peakOpen: ctx.peakOpen, registeredInSetup: c.registered,
    },
    setup: setupS > 0 ? { seconds: round(setupS, 2), registeredPerS: Math.round(c.registered / setupS) } : null,
    ramp: { seconds: round(rampS, 2), connectionsPerS: rampS > 0 ? Math.round(c.planned / rampS) : 0, login: merged.latency.login },
    throughput: { sent: c.sent, delivered: c.delivered, deliveredTotal: c.deliveredTotal, windowS: round(windowS, 2), msgsPerS: windowS > 0 ? Math.round(c.delivered / windowS) : 0 },
    latency: merged.latency,
    reconnectStorm: c.reconnected > 0 || stormS > 0 ? { reconnected: c.reconnected, seconds: round(stormS, 2), perS: stormS > 0 ? Math.round(c.reconnected / stormS) : 0 } : null,
    heartbeats: { pingsAnswered: c.pingsAnswered },
    errors: merged.errors,
    errorsTotal: merged.errorsTotal,
    servers: ctx.servers,
    memoryPerConnection,
    loadGenerator: {
      workers: merged.workers, rssBytes: merged.loadGeneratorRssBytes,
      cpuCoresAvg: durationS > 0 ? round(merged.loadGeneratorCpuMs / 1000 / durationS, 2) : 0,
      cpuCoresHold: windowS > 0 ? round(merged.loadGeneratorHoldCpuMs / 1000 / windowS, 2) : 0,
    },
    comparison: null,
  };
}

/** One compared figure: `better` says which direction is an improvement. */
export interface ComparedFigure {
  readonly metric: string;
  readonly previous: number;
  readonly current: number;
  /** current / previous (0 when previous is 0). */
  readonly ratio: number;
  readonly better: 'higher' | 'lower';
  /** Moved more than 10% in the bad direction. */
  readonly regressed: boolean;
}

export interface Comparison {
  readonly previousDate: string;
  readonly previousScenario: string;
  readonly figures: readonly ComparedFigure[];
}

const COMPARED: readonly { metric: string; better: 'higher' | 'lower'; get: (r: BenchReport) => number | undefined }[] = [
  { metric: 'connections authenticated', better: 'higher', get: (r) => r.connections.authenticated },
  { metric: 'ramp connections/s', better: 'higher', get: (r) => r.ramp.connectionsPerS },
  { metric: 'login p99 ms', better: 'lower', get: (r) => r.ramp.login.p99Ms },
  { metric: 'msgs/s', better: 'higher', get: (r) => r.throughput.msgsPerS },
  { metric: 'message p50 ms', better: 'lower', get: (r) => r.latency.message.p50Ms },
  { metric: 'message p99 ms', better: 'lower', get: (r) => r.latency.message.p99Ms },
  { metric: 'message p999 ms', better: 'lower', get: (r) => r.latency.message.p999Ms },
  { metric: 'reconnect p99 ms', better: 'lower', get: (r) => r.latency.reconnect.p99Ms },
  { metric: 'reconnects/s', better: 'higher', get: (r) => r.reconnectStorm?.perS },
  { metric: 'gateway RSS bytes/connection', better: 'lower', get: (r) => r.memoryPerConnection?.gatewayRssBytes },
  { metric: 'gateway heap bytes/connection', better: 'lower', get: (r) => r.memoryPerConnection?.gatewayHeapBytes },
  { metric: 'errors', better: 'lower', get: (r) => r.errorsTotal },
];

/** Compares the figures both reports have (a figure 0 or absent in both is left out). */
export function compareReports(previous: BenchReport, current: BenchReport): Comparison {
  const figures: ComparedFigure[] = [];
  for (const f of COMPARED) {
    const p = f.get(previous) ?? 0;
    const c = f.get(current) ?? 0;
    if (p === 0 && c === 0) continue;
    const ratio = p === 0 ? 0 : round(c / p, 3);
    const regressed = p === 0 ? (f.better === 'lower' && c > 0) : f.better === 'higher' ? c < p * 0.9 : c > p * 1.1;
    figures.push({ metric: f.metric, previous: p, current: c, ratio, better: f.better, regressed });
  }
  return { previousDate: previous.date, previousScenario: previous.scenario, figures };
}

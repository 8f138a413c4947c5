import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, mergeEncoded } from '../../bench/harness/histogram.ts';
import { ZERO_COUNTERS, buildReport, compareReports, mergeWorkerReports, type BenchReport, type ReportContext, type WorkerReport } from '../../bench/harness/report.ts';
import { reportMarkdown } from '../../bench/harness/report-markdown.ts';

function histogramOf(msValues: readonly number[]): string {
  const h = new Histogram();
  for (const v of msValues) h.recordMs(v);
  return h.encode();
}

function worker(index: number, over: Partial<WorkerReport> = {}): WorkerReport {
  return {
    worker: index,
    counters: { ...ZERO_COUNTERS, planned: 100, opened: 100, authenticated: 100, openAtHoldEnd: 100 },
    histograms: { login: histogramOf([1, 2, 3]), message: '', reconnect: '' },
    errors: {},
    phases: { setupStart: 0, setupEnd: 0, rampStart: 1000, rampEnd: 2000, measureStart: 2000, measureEnd: 4000, stormStart: 0, stormEnd: 0 },
    rssBytes: 50_000_000,
    cpuMs: 1000,
    holdCpuMs: 500,
    ...over,
  };
}

const context: ReportContext = {
  scenario: 'idle', command: 'parley bench idle', outcome: 'completed', startedAt: 1_000, endedAt: 11_000,
  machine: { cpus: 2, memoryGiB: 24, node: 'v20', loadAverage: [1, 1, 1] }, config: {},
  plan: { workers: 2, sourceAddresses: ['127.0.0.2'], targets: ['ws://127.0.0.1:1'], perWorker: [100, 100] },
  cluster: null,
  servers: [{
    name: 'gateway-0', pid: 1, connections: 200, cpuCoresAvg: 0.1, cpuCoresPeak: 0.5, cpuCoresHold: 0.05, rssBytesPeak: 200_000_000,
    rssBytesBaseline: 100_000_000, heapBytesBaseline: 20_000_000, rssBytesLoaded: 100_800_000, heapBytesLoaded: 20_400_000, warnings: {},
  }],
  peakOpen: 200,
};

test('bench histogram - merging encoded worker histograms equals recording every value in one', () => {
  const a = [1, 2, 3, 4, 5, 100];
  const b = [0.5, 7, 8, 9, 1000, 2500];
  const whole = new Histogram();
  for (const v of [...a, ...b]) whole.recordMs(v);
  const merged = mergeEncoded([histogramOf(a), histogramOf(b), '']);
  const { maxMs, ...percentiles } = merged.summary;
  const { maxMs: wholeMax, ...wholePercentiles } = whole.summary();
  assert.deepEqual(percentiles, wholePercentiles);
  assert.ok(Math.abs(maxMs - wholeMax) / wholeMax < 0.001);
  assert.equal(merged.summary.count, 12);
  assert.ok(Math.abs(merged.summary.maxMs - 2500) / 2500 < 0.001, 'max within 3 significant digits');
  assert.ok(merged.summary.p50Ms <= merged.summary.p90Ms && merged.summary.p90Ms <= merged.summary.p99Ms && merged.summary.p99Ms <= merged.summary.p999Ms);
});

test('bench histogram - an empty histogram summarises to zeros', () => {
  assert.deepEqual(new Histogram().summary(), { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 });
});

test('bench report - merging sums counters and errors by code, merges histograms and spans phases', () => {
  const merged = mergeWorkerReports([
    worker(0, { errors: { ECONNRESET: 2, 'close:4440': 1 }, histograms: { login: histogramOf([1, 2]), message: histogramOf([5]), reconnect: '' } }),
    worker(1, {
      errors: { ECONNRESET: 3 }, histograms: { login: histogramOf([3]), message: histogramOf([6, 7]), reconnect: '' },
      phases: { setupStart: 0, setupEnd: 0, rampStart: 500, rampEnd: 2500, measureStart: 2500, measureEnd: 3000, stormStart: 0, stormEnd: 0 },
    }),
  ]);
  assert.equal(merged.workers, 2);
  assert.equal(merged.counters.planned, 200);
  assert.equal(merged.counters.authenticated, 200);
  assert.deepEqual(merged.errors, { ECONNRESET: 5, 'close:4440': 1 });
  assert.deepEqual(Object.keys(merged.errors), ['ECONNRESET', 'close:4440'], 'most frequent first');
  assert.equal(merged.errorsTotal, 6);
  assert.equal(merged.latency.login.count, 3);
  assert.equal(merged.latency.message.count, 3);
  assert.equal(merged.latency.reconnect.count, 0);
  assert.deepEqual(merged.phases, { setupStart: 0, setupEnd: 0, rampStart: 500, rampEnd: 2500, measureStart: 2000, measureEnd: 4000, stormStart: 0, stormEnd: 0 });
  assert.equal(merged.loadGeneratorRssBytes, 100_000_000);
});

test('bench report - memory per connection is the after-GC delta over the connections held', () => {
  const report = buildReport(mergeWorkerReports([worker(0), worker(1)]), context);
  assert.deepEqual(report.memoryPerConnection, { gatewayRssBytes: 4000, gatewayHeapBytes: 2000, loadGeneratorRssBytes: 500_000 });
  assert.equal(report.ramp.seconds, 1);
  assert.equal(report.ramp.connectionsPerS, 200);
  assert.equal(report.connections.openAtHoldEnd, 200);
  assert.equal(report.loadGenerator.cpuCoresAvg, 0.2);
  assert.equal(report.reconnectStorm, null);
  const md = reportMarkdown(report);
  assert.match(md, /\*\*4,000 B RSS\*\*/);
  assert.match(md, /\| gateway-0 \| 1 \| 200 \|/);
});

test('bench report - comparison gives ratios and flags a >10% move in the bad direction', () => {
  const previous = buildReport(mergeWorkerReports([worker(0), worker(1)]), context);
  const current: BenchReport = {
    ...previous,
    memoryPerConnection: { gatewayRssBytes: 5000, gatewayHeapBytes: 2000, loadGeneratorRssBytes: 500_000 },
    ramp: { ...previous.ramp, connectionsPerS: 400 },
  };
  const c = compareReports(previous, current);
  const fig = (m: string) => c.figures.find((f) => f.metric === m)!;
  assert.equal(fig('gateway RSS bytes/connection').ratio, 1.25);
  assert.equal(fig('gateway RSS bytes/connection').regressed, true);
  assert.equal(fig('ramp connections/s').ratio, 2);
  assert.equal(fig('ramp connections/s').regressed, false);
  assert.equal(fig('gateway heap bytes/connection').regressed, false);
  assert.equal(c.figures.find((f) => f.metric === 'msgs/s'), undefined, 'figures zero in both are left out');
  assert.match(reportMarkdown({ ...current, comparison: c }), /\*\*regressed\*\*/);
});

test('bench report - a clustered run names its cluster, pairs split over nodes, what was removed after, and warnings the nodes logged', () => {
  const cluster = {
    name: 'parley_bench_0123456789', natsUrl: 'nats://127.0.0.1:4222', nodes: 2, crossNode: true, presence: 'redis' as const, readyS: 2.5,
    cleanup: { pgSchema: 'dropped', cassandraKeyspace: 'error: timed out', kvStream: 'dropped' },
  };
  const servers = [{ ...context.servers[0]!, warnings: { 'cluster.node_down': 1 } }];
  const report = buildReport(mergeWorkerReports([worker(0)]), { ...context, cluster, servers, plan: { ...context.plan, pairsAcrossNodes: 50 } });
  assert.deepEqual(report.cluster, cluster);
  const md = reportMarkdown(report);
  assert.match(md, /50 pair\(s\) split over two nodes/);
  assert.match(md, /Cluster: 2 nodes clustered over NATS .* as `parley_bench_0123456789`.*presence in redis.*cross-node.*formed in 2\.5 s.*cassandraKeyspace error: timed out/);
  assert.match(md, /gateway-0 logged at warn or worse: cluster\.node_down × 1/);
  assert.doesNotMatch(reportMarkdown(buildReport(mergeWorkerReports([worker(0)]), context)), /Cluster:|split over|logged at warn/, 'independent nodes: no cluster lines');
});

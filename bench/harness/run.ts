/**
 * Orchestrator of one `parley bench` run: starts the gateway nodes (or uses
 * given targets), forks the workers with their shards, drives the steps
 * (setup → ramp → memory probe → hold → storm), prints progress, merges the
 * workers' reports into the final report, and stops everything it started:
 * at the end, at the run's deadline, on abort (SIGINT/SIGTERM) and on error.
 * A clustered run (`--cluster`) also drops what its nodes shared (schema,
 * keyspace, KV stream: cluster-backends.ts) once they stopped, in every case.
 */
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { BenchConfig } from './config.ts';
import { forkGroup, stopChild } from './children.ts';
import { dropClusterBackends, manualCleanup, planClusterBackends, type ClusterBackends, type ClusterCleanup } from './cluster-backends.ts';
import { GatewayFleet, gatewayUsage, heapSnapshot, markHold, probe, sampleGateways, type GatewayNode } from './gateways.ts';
import { ProgressPrinter, totals } from './progress.ts';
import { buildReport, compareReports, mergeWorkerReports, type BenchReport, type ClusterReport, type WorkerReport } from './report.ts';
import { setupIndices } from './scenarios.ts';
import { countShards, nodesNeeded, planWorkers, sourceAddresses } from './sharding.ts';
import type { FromWorker, ToWorker, WorkerProgress, WorkerStep } from './worker-protocol.ts';
import { sleep } from './pacer.ts';
import { REPO_ROOT } from '../lib/build.ts';

/** Aborts a running bench (the CLI calls it on SIGINT/SIGTERM). */
export interface BenchRun {
  readonly done: Promise<BenchReport>;
  abort(reason: string): void;
  /** What a clustered run's nodes share (removed when `done` settles); undefined for independent nodes. */
  readonly cluster: ClusterBackends | undefined;
}

/** Clustered nodes: how long bench-0 may take to migrate a fresh schema and keyspace and listen, and the cluster to form. */
const CLUSTER_START_TIMEOUT_MS = 120_000;
const MESH_TIMEOUT_MS = 60_000;

class Aborted extends Error {}

export function startBench(config: BenchConfig, command: string): BenchRun {
  let abortReason: string | undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => { onAbort = () => reject(new Aborted(abortReason)); });
  aborted.catch(() => {});
  const abort = (reason: string) => {
    if (abortReason !== undefined) return;
    abortReason = reason;
    onAbort?.();
  };
  const cluster = config.cluster !== undefined && config.nodes > 0 ? planClusterBackends(config.cluster) : undefined;
  return { done: run(config, command, cluster, aborted, () => abortReason, abort), abort, cluster };
}

async function run(
  config: BenchConfig, command: string, cluster: ClusterBackends | undefined,
  aborted: Promise<never>, reason: () => string | undefined, abort: (r: string) => void,
): Promise<BenchReport> {
  const startedAt = Date.now();
  const loadAverage = os.loadavg();
  const deadline = setTimeout(() => abort('deadline'), config.maxDurationS * 1000);
  const printer = new ProgressPrinter(config.progress);
  const progress = new Map<number, WorkerProgress>();
  let phase = 'start';
  let nodes: GatewayNode[] = [];
  let fleet: GatewayFleet | undefined;
  let cleanup: ClusterCleanup | undefined;
  let pairsAcrossNodes = 0;
  let nodeCount = 0;
  const workers: ChildProcess[] = [];
  const reports = new Map<number, WorkerReport>();
  let peakOpen = 0;
  let lastDelivered = 0;
  let lastAt = performance.now();
  const ticker = setInterval(() => {
    sampleGateways(nodes);
    const t = totals([...progress.values()]);
    peakOpen = Math.max(peakOpen, t.open);
    const now = performance.now();
    const msgsPerS = ((t.deliveredTotal - lastDelivered) * 1000) / (now - lastAt);
    lastDelivered = t.deliveredTotal;
    lastAt = now;
    printer.print({
      phase, elapsedS: (Date.now() - startedAt) / 1000, planned: config.connections, workers: [...progress.values()], msgsPerS,
      gatewayRssBytes: nodes.reduce((a, n) => a + (n.last?.rssBytes ?? 0), 0),
    });
  }, 1000);
  const guarded = <T>(p: Promise<T>) => Promise.race([p, aborted]);

  const shards = planWorkers(config.connections, config.maxPerWorker, config.workers);
  // Each pass that opens the connections again (setup, storm) may find the previous sockets' ports in TIME_WAIT.
  const passes = 1 + (setupIndices(config, config.connections).length > 0 ? 1 : 0) + (config.scenario === 'reconnectStorm' ? 1 : 0);
  const addresses = sourceAddresses(config.connections * passes, config.portsPerAddress, config.sourceAddresses);
  try {
    if (config.nodes > 0) {
      phase = 'nodes';
      const count = Math.max(config.nodes, nodesNeeded(config.connections, config.maxPerNode));
      nodeCount = count;
      if (cluster !== undefined && config.progress) process.stderr.write(`parley bench: cluster ${cluster.name} of ${count} nodes over ${cluster.natsUrl} (schema and keyspace ${cluster.name}, dropped at the end)\n`);
      fleet = new GatewayFleet({
        nodes: count, cluster, startTimeoutMs: cluster !== undefined ? CLUSTER_START_TIMEOUT_MS : 60_000, meshTimeoutMs: MESH_TIMEOUT_MS,
        onUnexpectedExit: (n, code, signal) => abort(`error: ${n.name} exited (${code ?? signal}) during the run`),
      });
      nodes = await guarded(fleet.start());
    }
    const targets = config.nodes > 0 ? nodes.map((n) => n.url) : [...config.targets];
    const counts = countShards(shards, addresses, targets, { crossNode: config.crossNode });
    pairsAcrossNodes = counts.pairsAcrossNodes;
    for (const n of nodes) n.connections = counts.perTarget[n.url] ?? 0;
    const overfull = nodes.find((n) => n.connections > config.maxPerNode);
    if (overfull !== undefined) throw new Error(`${overfull.name} would hold ${overfull.connections} connections, over --max-per-node ${config.maxPerNode}`);
    await guarded(Promise.all(nodes.map(async (n) => { n.baseline = await probe(n); })));
    // For a breakdown of per-connection memory by constructor (see bench/harness/README.md).
    const snapshots = process.env.PARLEY_BENCH_HEAP_SNAPSHOTS;
    if (snapshots !== undefined && nodes[0] !== undefined) await guarded(heapSnapshot(nodes[0], path.join(snapshots, 'baseline.heapsnapshot')));
    sampleGateways(nodes);

    phase = 'fork';
    const waiting = new Map<string, Set<number>>();
    let resolveWaiter: (() => void) | undefined;
    const waitFor = async (key: string) => {
      while ((waiting.get(key)?.size ?? 0) < shards.length) {
        await guarded(new Promise<void>((r) => { resolveWaiter = r; }));
      }
    };
    for (const shard of shards) {
      const child = forkGroup(path.join(REPO_ROOT, 'bench/harness/worker.ts'), [], { cwd: REPO_ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(child);
      child.on('message', (m: FromWorker) => {
        if (m.t === 'progress') progress.set(m.progress.worker, m.progress);
        else if (m.t === 'report') reports.set(m.report.worker, m.report);
        else if (m.t === 'fatal') abort(`error: worker ${m.worker}: ${m.message.split('\n')[0]}`);
        else {
          const key = m.t === 'ready' ? 'ready' : m.step;
          if (!waiting.has(key)) waiting.set(key, new Set());
          waiting.get(key)!.add(m.worker);
        }
        resolveWaiter?.();
      });
      child.once('exit', (code, signal) => {
        if (!reports.has(shard.index)) abort(`error: worker ${shard.index} exited (${code ?? signal}) before reporting`);
        resolveWaiter?.();
      });
      child.send({ t: 'init', config, shard, workers: shards.length, addresses, targets } satisfies ToWorker);
    }
    await waitFor('ready');
    const step = async (s: WorkerStep) => {
      phase = s;
      for (const w of workers) w.send({ t: 'step', step: s } satisfies ToWorker);
      await waitFor(s);
    };
    if (setupIndices(config, config.connections).length > 0) await step('setup');
    await step('ramp');
    phase = 'probe';
    // Let the last handshakes' garbage and the sessions settle before measuring memory.
    await guarded(sleep(3000));
    await guarded(Promise.all(nodes.map(async (n) => { n.loaded = await probe(n, 60_000); })));
    if (snapshots !== undefined && nodes[0] !== undefined) await guarded(heapSnapshot(nodes[0], path.join(snapshots, 'loaded.heapsnapshot')));
    markHold(nodes, 'from');
    await step('hold');
    markHold(nodes, 'to');
    if (config.scenario === 'reconnectStorm') await step('storm');
  } catch (err) {
    if (!(err instanceof Aborted)) abort(`error: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(deadline);
    phase = 'stop';
    await Promise.all(workers.map(async (w) => {
      if (w.exitCode !== null || w.signalCode !== null) return;
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      try { w.send({ t: 'stop' } satisfies ToWorker); } catch { /* channel closed */ }
      // A worker that does not report within 15 s is stopped; the timer must not outlive the run (it would hold the process).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((r) => { timer = setTimeout(r, 15_000); })]);
      clearTimeout(timer);
      await stopChild(w, 5_000);
    }));
    sampleGateways(nodes);
    await fleet?.stop();
    if (cluster !== undefined) {
      phase = 'cleanup';
      cleanup = await dropClusterBackends(cluster);
      if (Object.values(cleanup).some((v) => v.startsWith('error'))) {
        process.stderr.write(`parley bench: could not remove everything the cluster used (${JSON.stringify(cleanup)}); by hand: ${manualCleanup(cluster)}\n`);
      }
    }
    clearInterval(ticker);
    printer.end();
  }
  const clusterReport: ClusterReport | null = cluster === undefined ? null : {
    name: cluster.name, natsUrl: cluster.natsUrl, nodes: nodeCount, crossNode: config.crossNode,
    presence: fleet?.cluster?.presence ?? 'unknown', readyS: fleet?.cluster?.readyS ?? 0,
    cleanup: cleanup ?? { pgSchema: 'not run', cassandraKeyspace: 'not run', kvStream: 'not run' },
  };
  const merged = mergeWorkerReports([...reports.values()].sort((a, b) => a.worker - b.worker));
  const report = buildReport(merged, {
    scenario: config.scenario, command, outcome: reason() ?? 'completed', startedAt, endedAt: Date.now(),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverage },
    config: { ...config },
    plan: { workers: shards.length, sourceAddresses: addresses, targets: nodes.length > 0 ? nodes.map((n) => n.url) : [...config.targets], perWorker: shards.map((s) => s.count), pairsAcrossNodes },
    cluster: clusterReport,
    servers: nodes.map(gatewayUsage),
    peakOpen,
  });
  if (config.compare === undefined) return report;
  const previous = JSON.parse(readFileSync(config.compare, 'utf8')) as BenchReport;
  return { ...report, comparison: compareReports(previous, report) };
}

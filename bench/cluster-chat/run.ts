/**
 * Cross-node 1:1 messaging bench: what the node hop costs. Two clusters of
 * `parley start --cluster` processes, measured in the same run with the same
 * load client (bench/messaging: raw-protocol pair driver, pair load, HDR
 * latency) and the same kinds of stores (PostgreSQL accounts, Cassandra
 * multi-writer inbox, Redis presence, NATS):
 *
 * - single-node: ONE clustered node; every sender and receiver on it;
 * - cross-node:  TWO clustered nodes; every sender on n1, its receiver on n2
 *   (each message's notify and each receipt's notify cross NATS).
 *
 * Both clusters are up for the whole run (an idle node costs a heartbeat a
 * second), so measurements interleave: each block (peak, then each rate) runs
 * both setups back to back, the order alternating from block to block and
 * from round to round (A B, B A, …), so a slow drift of the shared machine
 * (Cassandra compaction, neighbours) falls on both setups. Results are the
 * medians over `--rounds`. Each cluster has its own fresh PostgreSQL schema,
 * Cassandra keyspace and unique cluster name (test/support's startChatCluster,
 * as the e2e tests start theirs), all removed at the end with the JetStream KV
 * bucket of each cluster. The nodes run the compiled build (`npm run build`,
 * done first), as `npm start` does. CPU and RSS of every node, Cassandra,
 * nats-server and the load client are sampled over each measured interval only.
 *
 * Run: node --import tsx bench/cluster-chat/run.ts [--duration 10] [--pairs 50] [--rate 5000[,500…]]
 *        [--rounds 1] [--window 32] [--payload 100] [--warmup 2] [--prewarm 5] [--cpu-prof <dir>] [--count-cql] [--no-peak]
 * Before the first round each setup runs `--prewarm` seconds at the first rate, not measured
 * (a cold node falls behind in its first block: round 1 measured the start-up).
 * `--no-peak` measures the rates only (no peak block: at peak a window of 32 per pair
 * queues ~1,600 messages, which the next block inherits while the nodes catch up).
 * `--rate` takes one rate or several (comma separated), each measured on both
 * setups. `--cpu-prof <dir>` CPU-profiles every node (cpu-profile.mjs;
 * `<dir>/<setup>/<node>-<pid>.cpuprofile`, written when the nodes stop at the end).
 * `--count-cql` counts the Cassandra requests of every node over each measured
 * interval (cql-count.mjs) and reports them per delivered message.
 * Prints one JSON line, then tables and the ratios against the targets.
 * Time-bounded: a run that overruns its budget stops its processes, cleans up
 * and exits 2; so do Ctrl-C, SIGTERM and any uncaught error.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ForwardStats } from '../../actors/session-forward.ts';
import { buildDist } from '../lib/build.ts';
import { forwardStatsIn, startChatCluster, type ChatClusterHandle } from '../../test/support/chat-cluster.ts';
import { parleyDriver } from '../messaging/parley-driver.ts';
import { runPairLoad } from '../messaging/pair-load.ts';
import { findProcess, watch, type ProcessUsage, type Watched } from './process-watch.ts';
import { TARGETS, modeName, printReport, ratios, summarise, type Measured, type SetupName } from './report.ts';

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const positive = (name: string, v: string | undefined, fallback: number): number => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};
const num = (name: string, fallback: number): number => positive(name, argValue(name), fallback);
const pairs = num('pairs', 50);
const window = num('window', 32);
const durationS = num('duration', 10);
const warmupS = num('warmup', 2);
const prewarmS = num('prewarm', 5);
const rounds = Math.round(num('rounds', 1));
const rates = (argValue('rate') ?? String(TARGETS.atRate)).split(',').map((r) => positive('rate', r, TARGETS.atRate));
const payload = num('payload', 100);
const cpuProfDir = argValue('cpu-prof');
/** Where the nodes' CQL counters write their snapshots (--count-cql); removed at the end. */
const cqlDir = process.argv.includes('--count-cql') ? mkdtempSync(path.join(os.tmpdir(), 'parley-cluster-chat-cql-')) : undefined;
const here = path.dirname(fileURLToPath(import.meta.url));

/** Below this share of the offered rate, a rate run is saturated: its latency is queueing. */
const SATURATED_BELOW = 0.97;
/** Pause after each measurement: the closed pairs' sessions stop and their last deletes land. */
const SETTLE_MS = 3000;
const MEASUREMENTS = rounds * 2 * (1 + rates.length);
/** The whole run, start-up and clean-up included, is bounded by this. */
const BUDGET_MS = 240_000 + MEASUREMENTS * (warmupS + durationS + 60) * 1000 + 2 * (prewarmS + 60) * 1000;

interface Setup {
  readonly name: SetupName;
  readonly cluster: ChatClusterHandle;
  readonly senderUrl: string;
  readonly receiverUrl: string;
}

// ---------------------------------------------------------------------------
// processes and clean-up (also on error, signal and time-out)

const starting: Promise<ChatClusterHandle>[] = [];
let cleaning: Promise<void> | undefined;

async function settled<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(r, ms))]);
}

/** Stops every node (gracefully first: a profile and the forward counters are written then), drops the schemas, keyspaces and KV buckets. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const clusters = (await Promise.all(starting.map((s) => settled(s, 30_000)))).filter((c): c is ChatClusterHandle => c !== undefined);
    // A profile is written, and the forward counters logged, when the process exits by itself.
    await settled(Promise.all(clusters.flatMap((c) => c.members.map((m) => m.stop()))), 20_000);
    await Promise.all(clusters.map((c) => c.stop().catch((err: unknown) => console.error(`clean-up of cluster ${c.clusterName} failed:`, err))));
    if (cqlDir !== undefined) rmSync(cqlDir, { recursive: true, force: true });
  })();
  return cleaning;
}

function bail(why: string, code: number, err?: unknown): void {
  console.error(`cluster-chat bench: ${why}`, err ?? '');
  void settled(cleanup(), 60_000).finally(() => process.exit(code));
}

process.once('SIGINT', () => bail('SIGINT, stopping', 130));
process.once('SIGTERM', () => bail('SIGTERM, stopping', 143));
process.on('uncaughtException', (err) => bail('uncaught exception', 1, err));
process.on('unhandledRejection', (err) => bail('unhandled rejection', 1, err));
// Last resort when clean-up could not finish in time: no node outlives the bench.
const up: ChatClusterHandle[] = [];
process.on('exit', () => {
  for (const m of up.flatMap((c) => c.members)) if (m.process.child.exitCode === null && m.process.child.signalCode === null) m.process.child.kill('SIGKILL');
});
const budget = setTimeout(() => bail(`time budget of ${BUDGET_MS / 1000} s exceeded`, 2), BUDGET_MS);

async function startSetup(name: SetupName, nodes: 1 | 2): Promise<Setup> {
  const env: NodeJS.ProcessEnv = {};
  const preloads: string[] = [];
  if (cpuProfDir !== undefined) {
    const dir = path.resolve(cpuProfDir, name);
    mkdirSync(dir, { recursive: true });
    // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload profiles through the inspector instead.
    preloads.push(path.join(here, 'cpu-profile.mjs'));
    env.PARLEY_BENCH_CPU_PROF_DIR = dir;
  }
  if (cqlDir !== undefined) {
    preloads.push(path.join(here, 'cql-count.mjs'));
    env.PARLEY_BENCH_CQL_DIR = cqlDir;
  }
  if (preloads.length > 0) env.NODE_OPTIONS = [process.env.NODE_OPTIONS ?? '', ...preloads.map((p) => `--import ${p}`)].join(' ').trim();
  const s = startChatCluster(nodes, { env, compiled: true });
  starting.push(s);
  const cluster = await s;
  up.push(cluster);
  const [n1, n2] = cluster.members;
  return { name, cluster, senderUrl: n1!.url, receiverUrl: (n2 ?? n1)!.url };
}

// ---------------------------------------------------------------------------
// measurement

const services: Watched[] = [findProcess('cassandra', 'CassandraDaemon'), findProcess('nats-server', 'nats-server')].filter((w): w is Watched => w !== undefined);

async function measure(setup: Setup, round: number, offeredRate: number | undefined): Promise<Measured> {
  const driver = parleyDriver(setup.senderUrl, payload, { name: setup.name, receiverUrl: setup.receiverUrl });
  const watched = [...setup.cluster.members.map((m) => ({ label: m.nodeId, pid: m.process.child.pid! })), ...services];
  let sampling: ReturnType<typeof watch> | undefined;
  let usage: ProcessUsage[] = [];
  const nodePids = setup.cluster.members.map((m) => m.process.child.pid!);
  const result = await runPairLoad(driver, {
    pairs, window, durationS, warmupS, rate: offeredRate,
    onMeasuring: (on) => {
      // A CQL snapshot at each end of the interval (the counters run only with --count-cql: SIGUSR2 would end a node without them).
      if (cqlDir !== undefined) for (const pid of nodePids) process.kill(pid, 'SIGUSR2');
      if (on) sampling = watch(watched);
      else usage = sampling!.stop();
    },
  });
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const saturated = offeredRate !== undefined && result.msgsPerS < SATURATED_BELOW * offeredRate;
  const cql = cqlDir === undefined ? {} : { cqlPerMsg: cqlPerMessage(cqlDir, nodePids, result.delivered) };
  const m: Measured = { ...result, setup: setup.name, round, offeredRate, saturated, usage, ...cql };
  console.error(`  round ${round} ${setup.name} ${modeName(offeredRate)}: ${m.msgsPerS} msg/s, p50 ${m.latency.p50Ms} ms, p99 ${m.latency.p99Ms} ms${saturated ? ' (saturated)' : ''}`);
  return m;
}

/**
 * CQL requests of the nodes between their last two snapshots (the measured
 * interval), per delivered message, by statement.
 */
function cqlPerMessage(dir: string, pids: readonly number[], delivered: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pid of pids) {
    const snaps = readdirSync(dir)
      .filter((f) => f.startsWith(`${pid}.`))
      .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
      .slice(-2)
      .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, number>);
    if (snaps.length < 2) throw new Error(`node ${pid} wrote ${snaps.length} CQL snapshots, expected 2`);
    const [start, end] = snaps as [Record<string, number>, Record<string, number>];
    for (const [k, v] of Object.entries(end)) out[k] = (out[k] ?? 0) + v - (start[k] ?? 0);
  }
  for (const k of Object.keys(out)) out[k] = delivered > 0 ? Math.round((out[k]! / delivered) * 100) / 100 : 0;
  return out;
}

/** Warnings and errors each node logged during the run, counted by event (a healthy run has none). */
function nodeComplaints(setups: readonly Setup[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const setup of setups) {
    for (const m of setup.cluster.members) {
      const counts: Record<string, number> = {};
      for (const line of m.process.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as { level?: number; event?: string };
          if ((entry.level ?? 0) >= 40) counts[entry.event ?? 'unnamed'] = (counts[entry.event ?? 'unnamed'] ?? 0) + 1;
        } catch {
          // a line cut by the pipe's chunking: not ours to judge
        }
      }
      out[`${setup.name}/${m.nodeId}`] = counts;
    }
  }
  return out;
}

/** Each node's forward counters (actors/session-forward.ts ForwardStats), logged when it stopped. */
function forwardCounters(setups: readonly Setup[]): Record<string, ForwardStats> {
  const out: Record<string, ForwardStats> = {};
  for (const setup of setups) {
    for (const m of setup.cluster.members) {
      const stats = forwardStatsIn(m.process.output());
      if (stats !== undefined) out[`${setup.name}/${m.nodeId}`] = stats;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  // The nodes run compiled, as `npm start` does (bench/lib/build.ts).
  buildDist();
  const startedAt = new Date();
  const t0 = performance.now();
  const loadavg = () => os.loadavg().map((x) => Number(x.toFixed(2)));
  const loadStart = loadavg();
  console.error(`cluster-chat bench: ${pairs} pairs, window ${window}, ${durationS} s (+${warmupS} s warm-up), rates ${rates.join(', ')}/s, ${rounds} round(s), payload ${payload} B; load ${loadStart.join(' ')}`);
  const single = await startSetup('single-node', 1);
  const cross = await startSetup('cross-node', 2);
  console.error(`  clusters up: single ${single.cluster.clusterName} (${single.cluster.backends.schema}), cross ${cross.cluster.clusterName} (${cross.cluster.backends.schema})`);
  // Unmeasured first: cold nodes (JIT, caches, first Cassandra writes) fall behind in their first
  // block and catch up in the next one, so without this round 1 measured the start-up, not the setup.
  for (const setup of [single, cross]) {
    const driver = parleyDriver(setup.senderUrl, payload, { name: setup.name, receiverUrl: setup.receiverUrl });
    await runPairLoad(driver, { pairs, window, durationS: prewarmS, warmupS: 0, rate: rates[0] });
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  }
  console.error(`  pre-warmed both setups: ${prewarmS} s at ${rates[0]}/s each, not measured`);
  const results: Measured[] = [];
  const blocks: Array<number | undefined> = process.argv.includes('--no-peak') ? [...rates] : [undefined, ...rates];
  for (let round = 1; round <= rounds; round++) {
    for (let b = 0; b < blocks.length; b++) {
      // A B, B A, …: drift of the shared machine falls on both setups.
      const order = (b + round) % 2 === 1 ? [single, cross] : [cross, single];
      for (const setup of order) results.push(await measure(setup, round, blocks[b]));
    }
  }
  const loadEnd = loadavg();
  const complaints = nodeComplaints([single, cross]);
  await cleanup();
  const forwards = forwardCounters([single, cross]);
  const summaries = summarise(results);
  const r = ratios(summaries, rates);
  console.log(JSON.stringify({
    bench: 'cluster-chat',
    date: startedAt.toISOString(),
    conditions: {
      pairs, window, durationS, warmupS, rates, rounds, payloadBytes: payload, node: process.version, cpus: os.cpus().length,
      load: { start: loadStart, end: loadEnd }, seconds: Math.round((performance.now() - t0) / 1000),
    },
    results,
    summaries,
    ratios: r,
    nodeWarnings: complaints,
    forwards,
  }));
  printReport(results, summaries, r, window, rounds);
  console.log('\nForwards over the whole run (pre-warm included), per node, from its `session.forward_stats` at stop:');
  console.log('| node | forwarded | acked | refused | lost (no answer in time) | late answers | received | pushed | held | refused here |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [node, f] of Object.entries(forwards)) {
    console.log(`| ${node} | ${f.forwarded} | ${f.acked} | ${f.refused} | ${f.lost} | ${f.lateAnswers} | ${f.received} | ${f.pushed} | ${f.held} | ${f.refusedHere} |`);
  }
  const warned = Object.entries(complaints).filter(([, c]) => Object.keys(c).length > 0);
  if (warned.length > 0) console.log(`\nnode warnings: ${warned.map(([n, c]) => `${n} ${JSON.stringify(c)}`).join('; ')}`);
}

main().then(
  () => {
    clearTimeout(budget);
    process.exit(0);
  },
  (err: unknown) => bail('failed', 1, err),
);

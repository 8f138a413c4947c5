/**
 * Gateway nodes for a run: N `parley start` processes on 127.0.0.1 (free
 * ports), each through node-entry.ts (after-GC memory probe over IPC), and
 * sampled from /proc every second for CPU and RSS. Two kinds:
 *
 * - independent (default): each node its own embedded store in a temporary
 *   folder, logs at warn; the sharding keeps pairs and reconnects on one node.
 * - clustered (`cluster`): `parley start --cluster <nats>` as node ids
 *   bench-0 … bench-N−1 on the run's own cluster name, PostgreSQL schema and
 *   Cassandra keyspace (cluster-backends.ts), logs at info. bench-0 starts
 *   first (it creates the schema and keyspace), the rest after it in
 *   parallel; the fleet is ready once every node logged `cluster.node_up` for
 *   every other one (bounded by `meshTimeoutMs`): only then may load start.
 *
 * Every node's warn-or-worse log lines are counted by event (a
 * `cluster.node_down` under load is a finding, not noise). `stop` is safe at
 * any time, also while `start` is still spawning: a node that is starting is
 * stopped too, so nothing writes to the backends once it returned.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { buildDist, compiledArgs, REPO_ROOT } from '../lib/build.ts';
import { sampleProcess, type UsageSample } from '../lib/process-usage.ts';
import { spawnGroup, stopChild } from './children.ts';
import { clusterNodeEnv, redisPresence, type ClusterBackends } from './cluster-backends.ts';
import type { ServerUsage } from './report.ts';


/** Store settings inherited from the environment (the test runner sets them) would share one database between the nodes. */
const STORE_ENV = [
  'PARLEY_PG_URL', 'PARLEY_PG_SCHEMA', 'PARLEY_REDIS_URL', 'PARLEY_NATS_URL', 'PARLEY_CLUSTER_NAME', 'PARLEY_NODE_ID',
  'PARLEY_CASSANDRA_CONTACT_POINTS', 'PARLEY_CASSANDRA_KEYSPACE', 'PARLEY_CASSANDRA_LOCAL_DC',
  'PARLEY_DATA_DIR', 'PARLEY_GATEWAY_PORT', 'PARLEY_HTTP_PORT', 'PARLEY_HOST', 'PARLEY_LOG_LEVEL',
];

/** Memory after a full GC, as the probe reports it. */
export interface MemoryProbe {
  readonly rssBytes: number;
  readonly heapBytes: number;
}

export interface GatewayNode {
  readonly name: string;
  /** `--node-id`: bench-0, bench-1, … */
  readonly nodeId: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** Cluster peers this node logged as up (`cluster.node_up`); empty for independent nodes. */
  readonly peersUp: Set<string>;
  /** Its log lines at warn or worse, by event (or message). */
  readonly warnings: Record<string, number>;
  connections: number;
  baseline: MemoryProbe | undefined;
  loaded: MemoryProbe | undefined;
  first: UsageSample | undefined;
  last: UsageSample | undefined;
  cpuPeak: number;
  rssPeak: number;
  holdFrom: UsageSample | undefined;
  holdTo: UsageSample | undefined;
}

export interface GatewayOptions {
  readonly nodes: number;
  /** Set: the nodes form one cluster on these backends; unset: independent nodes on embedded stores. */
  readonly cluster: ClusterBackends | undefined;
  /** Per node, until it listens (bench-0 of a cluster also migrates the schema and keyspace). */
  readonly startTimeoutMs: number;
  /** Clustered: until every node saw every other one up. */
  readonly meshTimeoutMs: number;
  /** A node exited while the fleet was not stopping (after `start` resolved). */
  readonly onUnexpectedExit?: (node: GatewayNode, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** What the nodes of a clustered fleet share, as the report shows it. */
export interface FleetCluster {
  readonly presence: 'redis' | 'memory';
  /** From the first spawn to every node seeing every other one up. */
  readonly readyS: number;
}

/** The JSON log line fields the fleet reads. */
interface LogLine {
  readonly level?: string;
  readonly event?: string;
  readonly msg?: string;
  readonly peer?: string;
  /** Why a peer went down (`timeout`, `left`, …): a `left` at the end of a run is the graceful stop, a `timeout` under load a finding. */
  readonly cause?: string;
  /** A supervisor report's kind (`child_exited`, `crash`, …) and its exit reason. */
  readonly report?: string;
  readonly reason?: unknown;
}

/** The name a warning is counted under: its event (with its cause: `cluster.node_down:timeout`), or a supervisor report with its exit reason (`child_exited:normal`). */
function warningKey(l: LogLine): string {
  if (l.event !== undefined) return typeof l.cause === 'string' ? `${l.event}:${l.cause}` : l.event;
  if (l.report !== undefined) {
    const reason = typeof l.reason === 'string' ? l.reason : l.reason === undefined ? undefined : JSON.stringify(l.reason).slice(0, 60);
    return reason === undefined ? l.report : `${l.report}:${reason}`;
  }
  return l.msg ?? l.level ?? 'unknown';
}

/** Reads one line of a node's JSON log into `node` (peers up, warnings); other lines are ignored. */
export function readLogLine(node: Pick<GatewayNode, 'peersUp' | 'warnings'>, line: string): void {
  // Cheap filter first: at info a node logs a few lines a second at most, but parse only what counts.
  const up = line.includes('"cluster.node_up"');
  if (!up && !/"level":"(warn|error|fatal)"/.test(line)) return;
  let parsed: LogLine;
  try {
    parsed = JSON.parse(line) as LogLine;
  } catch {
    return;
  }
  if (parsed.event === 'cluster.node_up' && typeof parsed.peer === 'string') node.peersUp.add(parsed.peer);
  if (parsed.level === 'warn' || parsed.level === 'error' || parsed.level === 'fatal') {
    const key = warningKey(parsed);
    node.warnings[key] = (node.warnings[key] ?? 0) + 1;
  }
}

/** Node ids that `node` has not yet seen up among `all`. */
export function peersMissing(node: Pick<GatewayNode, 'nodeId' | 'peersUp'>, all: readonly string[]): string[] {
  return all.filter((id) => id !== node.nodeId && !node.peersUp.has(id));
}

/** The node processes of one run. */
export class GatewayFleet {
  /** Listening nodes, in index order once `start` resolved. */
  readonly nodes: GatewayNode[] = [];
  /** Every process spawned, listening or not (what `stop` stops). */
  private readonly spawned: { child: ChildProcess; dataDir: string }[] = [];
  private readonly meshWaiters = new Set<() => void>();
  private stopping = false;
  private started = false;
  cluster: FleetCluster | undefined;

  constructor(private readonly options: GatewayOptions) {}

  /** Starts every node (clustered: bench-0 first, then the rest) and, clustered, waits for the mesh; throws on any failure. */
  async start(): Promise<GatewayNode[]> {
    const t0 = performance.now();
    const { cluster } = this.options;
    const redis = cluster !== undefined && await redisPresence(cluster);
    // The nodes run compiled, as `npm start` does (bench/lib/build.ts).
    buildDist();
    const indices = Array.from({ length: this.options.nodes }, (_, i) => i);
    if (cluster !== undefined) {
      // The first node creates the schema and keyspace; the others start after it (no migration race).
      await this.startNode(0, redis);
      await Promise.all(indices.slice(1).map((i) => this.startNode(i, redis)));
    } else {
      await Promise.all(indices.map((i) => this.startNode(i, redis)));
    }
    this.nodes.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    if (cluster !== undefined) {
      await this.waitForMesh();
      this.cluster = { presence: redis ? 'redis' : 'memory', readyS: Number(((performance.now() - t0) / 1000).toFixed(2)) };
    }
    this.started = true;
    return this.nodes;
  }

  private async startNode(index: number, redis: boolean): Promise<void> {
    if (this.stopping) throw new Error('stopped while starting');
    const { cluster } = this.options;
    const dataDir = mkdtempSync(path.join(tmpdir(), `parley-bench-node${index}-`));
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of STORE_ENV) delete env[k];
    const nodeId = `bench-${index}`;
    const args = [
      '--expose-gc', ...compiledArgs('bench/harness/node-entry.ts'), 'start',
      '--node-id', nodeId, '--host', '127.0.0.1', '--http-port', '0', '--gateway-port', '0', '--data-dir', dataDir,
      // Clustered: info, for `cluster.node_up` (per-connection reports are debug, so the log stays a few lines).
      '--log-level', cluster !== undefined ? 'info' : 'warn',
    ];
    if (cluster !== undefined) {
      args.push('--cluster', cluster.natsUrl);
      Object.assign(env, clusterNodeEnv(cluster, redis));
    }
    const child = spawnGroup(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.spawned.push({ child, dataDir });
    const peersUp = new Set<string>();
    const warnings: Record<string, number> = {};
    // Read the log for the whole run: a pipe nobody drains would block the node's writes.
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) readLogLine({ peersUp, warnings }, line);
      if (lines.length > 0) for (const wake of this.meshWaiters) wake();
    });
    let tail = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${index} did not listen within ${this.options.startTimeoutMs} ms: ${tail}`)), this.options.startTimeoutMs);
      const onData = (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4000);
        const m = /gateway (ws:\/\/\S+)/.exec(tail);
        if (m) {
          clearTimeout(timer);
          child.stderr!.off('data', onData);
          // Keep draining stderr (a crash's stack), keeping only its tail.
          child.stderr!.on('data', (more: Buffer) => { tail = (tail + more.toString()).slice(-4000); });
          resolve(m[1]!);
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${index} exited ${code} while starting: ${tail}`));
      });
    });
    const node: GatewayNode = {
      name: `gateway-${index}`, nodeId, url, child, dataDir, peersUp, warnings, connections: 0, baseline: undefined, loaded: undefined,
      first: undefined, last: undefined, cpuPeak: 0, rssPeak: 0, holdFrom: undefined, holdTo: undefined,
    };
    child.once('exit', (code, signal) => {
      for (const wake of this.meshWaiters) wake();
      if (this.started && !this.stopping) this.options.onUnexpectedExit?.(node, code, signal);
    });
    this.nodes.push(node);
  }

  /** Resolves once every node logged every other node up; rejects at the timeout or when a node exits. */
  private waitForMesh(): Promise<void> {
    const ids = this.nodes.map((n) => n.nodeId);
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        const gone = this.nodes.find((n) => n.child.exitCode !== null || n.child.signalCode !== null);
        if (gone !== undefined) return finish(new Error(`${gone.nodeId} exited before the cluster formed`));
        if (this.stopping) return finish(new Error('stopped while the cluster formed'));
        if (this.nodes.every((n) => peersMissing(n, ids).length === 0)) finish(undefined);
      };
      const timer = setTimeout(() => {
        const missing = this.nodes.map((n) => `${n.nodeId} has not seen ${peersMissing(n, ids).join(', ') || '-'}`).join('; ');
        finish(new Error(`the cluster did not form within ${this.options.meshTimeoutMs} ms: ${missing}`));
      }, this.options.meshTimeoutMs);
      const finish = (err: Error | undefined) => {
        clearTimeout(timer);
        this.meshWaiters.delete(check);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.meshWaiters.add(check);
      check();
    });
  }

  /** Stops every node spawned (gracefully, bounded), also those still starting, and removes their data folders. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of this.meshWaiters) wake();
    await Promise.all(this.spawned.map(async (s) => {
      await stopChild(s.child, 20_000);
      rmSync(s.dataDir, { recursive: true, force: true });
    }));
  }
}

/** Memory of a node after a full GC (its probe answers over IPC). */
export function probe(node: GatewayNode, timeoutMs = 30_000): Promise<MemoryProbe | undefined> {
  return new Promise((resolve) => {
    const onMessage = (m: { t?: string; rssBytes?: number; heapBytes?: number }) => {
      if (m?.t !== 'probe') return;
      clearTimeout(timer);
      node.child.off('message', onMessage);
      resolve({ rssBytes: m.rssBytes ?? 0, heapBytes: m.heapBytes ?? 0 });
    };
    const timer = setTimeout(() => { node.child.off('message', onMessage); resolve(undefined); }, timeoutMs);
    node.child.on('message', onMessage);
    node.child.send({ t: 'probe' });
  });
}

/** Writes a heap snapshot of `node` to `file` (slow: seconds per 100 MB of heap). */
export function heapSnapshot(node: GatewayNode, file: string, timeoutMs = 300_000): Promise<boolean> {
  return new Promise((resolve) => {
    const onMessage = (m: { t?: string }) => {
      if (m?.t !== 'snapshot') return;
      clearTimeout(timer);
      node.child.off('message', onMessage);
      resolve(true);
    };
    const timer = setTimeout(() => { node.child.off('message', onMessage); resolve(false); }, timeoutMs);
    node.child.on('message', onMessage);
    node.child.send({ t: 'snapshot', path: file });
  });
}

/** One /proc sample of every node: peak CPU (cores over the last interval) and RSS. */
export function sampleGateways(nodes: readonly GatewayNode[]): void {
  for (const n of nodes) {
    if (n.child.pid === undefined || n.child.exitCode !== null) continue;
    let s: UsageSample;
    try {
      s = sampleProcess(n.child.pid);
    } catch {
      continue;
    }
    if (n.last !== undefined && s.atMs > n.last.atMs) n.cpuPeak = Math.max(n.cpuPeak, (s.cpuMs - n.last.cpuMs) / (s.atMs - n.last.atMs));
    n.first ??= s;
    n.last = s;
    n.rssPeak = Math.max(n.rssPeak, s.rssBytes);
  }
}

/** Marks the start or the end of the hold step (CPU of heartbeats or of the measured load). */
export function markHold(nodes: readonly GatewayNode[], edge: 'from' | 'to'): void {
  for (const n of nodes) {
    if (n.child.pid === undefined || n.child.exitCode !== null) continue;
    try {
      const s = sampleProcess(n.child.pid);
      if (edge === 'from') n.holdFrom = s;
      else n.holdTo = s;
    } catch { /* exited */ }
  }
}

export function gatewayUsage(n: GatewayNode): ServerUsage {
  const wall = n.first !== undefined && n.last !== undefined ? n.last.atMs - n.first.atMs : 0;
  const round2 = (x: number) => Number(x.toFixed(2));
  return {
    name: n.name, pid: n.child.pid ?? 0, connections: n.connections,
    cpuCoresAvg: wall > 0 ? round2((n.last!.cpuMs - n.first!.cpuMs) / wall) : 0,
    cpuCoresPeak: round2(n.cpuPeak),
    cpuCoresHold: n.holdFrom !== undefined && n.holdTo !== undefined && n.holdTo.atMs > n.holdFrom.atMs
      ? round2((n.holdTo.cpuMs - n.holdFrom.cpuMs) / (n.holdTo.atMs - n.holdFrom.atMs)) : 0,
    rssBytesPeak: n.rssPeak,
    rssBytesBaseline: n.baseline?.rssBytes ?? 0, heapBytesBaseline: n.baseline?.heapBytes ?? 0,
    rssBytesLoaded: n.loaded?.rssBytes ?? 0, heapBytesLoaded: n.loaded?.heapBytes ?? 0,
    warnings: { ...n.warnings },
  };
}

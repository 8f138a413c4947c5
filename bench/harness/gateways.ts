/**
 * Gateway nodes for a run: N `parley start` processes on 127.0.0.1 (free
 * ports, each its own embedded store in a temporary folder, logs at warn),
 * each through node-entry.ts (after-GC memory probe over IPC), and sampled from
 * /proc every second for CPU and RSS.
 *
 * Until chat nodes cluster over NATS the nodes are independent: the
 * sharding keeps pairs and reconnects on one node. `cluster` is passed as
 * `--cluster <url>` to `parley start` once that flag exists.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { sampleProcess, type UsageSample } from '../lib/process-usage.ts';
import { spawnGroup, stopChild } from './children.ts';
import type { ServerUsage } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Store settings inherited from the environment (the test runner sets them) would share one database between the nodes. */
const STORE_ENV = ['PARLEY_PG_URL', 'PARLEY_REDIS_URL', 'PARLEY_NATS_URL', 'PARLEY_CASSANDRA_CONTACT_POINTS', 'PARLEY_DATA_DIR', 'PARLEY_GATEWAY_PORT', 'PARLEY_HTTP_PORT', 'PARLEY_HOST'];

/** Memory after a full GC, as the probe reports it. */
export interface MemoryProbe {
  readonly rssBytes: number;
  readonly heapBytes: number;
}

export interface GatewayNode {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly dataDir: string;
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
  readonly cluster: string | undefined;
  readonly startTimeoutMs: number;
}

/** Starts one node and resolves once it listens. */
async function startNode(index: number, options: GatewayOptions): Promise<GatewayNode> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `parley-bench-node${index}-`));
  const env = { ...process.env };
  for (const k of STORE_ENV) delete env[k];
  const args = [
    '--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench/harness/node-entry.ts'), 'start',
    '--node-id', `bench-${index}`, '--host', '127.0.0.1', '--http-port', '0', '--gateway-port', '0', '--data-dir', dataDir, '--log-level', 'warn',
  ];
  if (options.cluster !== undefined) args.push('--cluster', options.cluster);
  const child = spawnGroup(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let tail = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${index} did not listen within ${options.startTimeoutMs} ms: ${tail}`)), options.startTimeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      const m = /gateway (ws:\/\/\S+)/.exec(tail);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${index} exited ${code} while starting: ${tail}`));
    });
  });
  return { name: `gateway-${index}`, url, child, dataDir, connections: 0, baseline: undefined, loaded: undefined, first: undefined, last: undefined, cpuPeak: 0, rssPeak: 0, holdFrom: undefined, holdTo: undefined };
}

/** Starts `options.nodes` nodes (in parallel); on any failure stops those started and throws. */
export async function startGateways(options: GatewayOptions): Promise<GatewayNode[]> {
  const settled = await Promise.allSettled(Array.from({ length: options.nodes }, (_, i) => startNode(i, options)));
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    await stopGateways(nodes);
    throw (failed as PromiseRejectedResult).reason;
  }
  return nodes;
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
  };
}

/** Stops every node gracefully (bounded) and removes its data folder. */
export async function stopGateways(nodes: readonly GatewayNode[]): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    await stopChild(n.child, 20_000);
    rmSync(n.dataDir, { recursive: true, force: true });
  }));
}

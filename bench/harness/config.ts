/**
 * The typed configuration of one `parley bench` run, its defaults, the named
 * scenario presets and scenario files (JSON).
 *
 * Precedence: command-line flags > scenario file > preset > DEFAULT_BENCH.
 * Every run is bounded: `connections` ≤ `maxConnections` and the whole run
 * (ramp + hold + drain) ≤ `maxDurationS`, after which everything is stopped.
 */
import { readFileSync } from 'node:fs';
import { ParleyError } from '../../protocol/errors.ts';
import { nodesNeeded } from './sharding.ts';

/** Scenario kinds. `groupFanout` is a slot filled by the groups issue. */
export type ScenarioKind = 'idle' | 'oneToOne' | 'offline' | 'reconnectStorm' | 'groupFanout';
export const SCENARIO_KINDS: readonly ScenarioKind[] = ['idle', 'oneToOne', 'offline', 'reconnectStorm', 'groupFanout'];

/** How connections log in during the ramp. */
export type LoginMode = 'register' | 'auth';

/** The whole configuration of a run. */
export interface BenchConfig {
  readonly scenario: ScenarioKind;
  /** Client connections in total (pairs × 2 for oneToOne/offline). @default 1000 */
  readonly connections: number;
  /** Upper bound on `connections`; a run asking for more is refused. @default 1000000 */
  readonly maxConnections: number;
  /** New connections per second, over all workers. @default 2000 */
  readonly rampRate: number;
  /** Handshakes in flight per worker during the ramp. @default 256 */
  readonly rampConcurrency: number;
  /**
   * `register` registers each account on its own connection during the ramp (one
   * server key check + DB write each); `auth` registers them in a setup phase
   * first, closes those sockets, then ramps with `auth` logins (what a returning
   * user does). @default 'register'
   */
  readonly login: LoginMode;
  /** Seconds to hold after the ramp (idle: heartbeats only; oneToOne: measured load). @default 30 */
  readonly holdS: number;
  /** Hard bound on the whole run in seconds; the run stops by itself after it. @default 600 */
  readonly maxDurationS: number;
  /** Messages in flight per pair (oneToOne). @default 8 */
  readonly window: number;
  /** Total messages per second over all pairs (oneToOne rate mode); 0 = peak mode with `window`. @default 0 */
  readonly rate: number;
  /** Opaque payload bytes per message. @default 100 */
  readonly payloadBytes: number;
  /** Messages queued per offline receiver before it connects (offline). @default 50 */
  readonly messagesPerInbox: number;
  /** Reconnections per second during a reconnect storm, over all workers; 0 = as fast as possible. @default 0 */
  readonly reconnectRate: number;
  /** Answer server pings (heartbeats on). @default true */
  readonly heartbeats: boolean;
  /** Encrypt messages end to end with libsignal (SecureClient) to measure the client cost (oneToOne). @default false */
  readonly e2ee: boolean;
  /** Client connections per worker process at most (the per-process open-file limit is 20,000). @default 19000 */
  readonly maxPerWorker: number;
  /** Worker processes; 0 = as few as `maxPerWorker` allows. @default 0 */
  readonly workers: number;
  /** Loopback source addresses (127.0.0.x); empty = enough from 127.0.0.2 on for `portsPerAddress`. */
  readonly sourceAddresses: readonly string[];
  /**
   * Client sockets per source address at most, counting each connection once
   * per pass (setup, ramp, storm) since closed ones may sit in TIME_WAIT; the
   * kernel's port search for bind() also slows as an address fills
   * (ephemeral ports 32768–60999). @default 10000
   */
  readonly portsPerAddress: number;
  /** Gateway node processes started for the run; 0 = use `targets`. @default 1 */
  readonly nodes: number;
  /** Client connections per started node at most (the node's open-file limit). @default 19000 */
  readonly maxPerNode: number;
  /** Gateway URLs of already running nodes (when `nodes` is 0). */
  readonly targets: readonly string[];
  /**
   * NATS URL(s): the started nodes form one cluster over it (`parley start
   * --cluster`, a cluster name, schema and keyspace of their own per run,
   * gateways.ts); unset = independent nodes, each its own embedded store.
   * Needs `nodes` > 0.
   */
  readonly cluster: string | undefined;
  /**
   * The two ends of each pair on different nodes, and a reconnect storm's
   * logins on another node than before (sharding.ts). Only for nodes that
   * share their users: a cluster the run starts, or `targets` that are one.
   * @default true with `cluster` and 2 or more nodes, else false
   */
  readonly crossNode: boolean;
  /** Write the report here (`<out>.json` and `<out>.md`); unset = `bench-<scenario>-<time>`. */
  readonly out: string | undefined;
  /** A previous report (JSON) to compare with. */
  readonly compare: string | undefined;
  /** Live progress on stderr. @default true */
  readonly progress: boolean;
}

export const DEFAULT_BENCH: BenchConfig = {
  scenario: 'idle',
  connections: 1000,
  maxConnections: 1_000_000,
  rampRate: 2000,
  rampConcurrency: 256,
  login: 'register',
  holdS: 30,
  maxDurationS: 600,
  window: 8,
  rate: 0,
  payloadBytes: 100,
  messagesPerInbox: 50,
  reconnectRate: 0,
  heartbeats: true,
  e2ee: false,
  maxPerWorker: 19_000,
  workers: 0,
  sourceAddresses: [],
  portsPerAddress: 10_000,
  nodes: 1,
  maxPerNode: 19_000,
  targets: [],
  cluster: undefined,
  crossNode: false,
  out: undefined,
  compare: undefined,
  progress: true,
};

/** Named presets: what each scenario changes from DEFAULT_BENCH. */
export const SCENARIO_PRESETS: Readonly<Record<ScenarioKind, Partial<BenchConfig>>> = {
  idle: { connections: 10_000, holdS: 30 },
  oneToOne: { connections: 200, holdS: 10, window: 8 },
  offline: { connections: 200, messagesPerInbox: 50, holdS: 5 },
  reconnectStorm: { connections: 10_000, holdS: 5, login: 'register' },
  groupFanout: {},
};

/** A scenario file: a preset name plus any settings, e.g. `{"scenario":"oneToOne","connections":2000,"rate":5000}`. */
export type ScenarioFile = Partial<BenchConfig> & { readonly scenario: ScenarioKind };

/** An invalid setting; the CLI prints it with its code. */
export class BenchConfigError extends ParleyError {
  constructor(message: string) {
    super('PARLEY_ERR_CONFIG', message);
  }
}

/** Reads and checks a scenario file. */
export function readScenarioFile(file: string): ScenarioFile {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || !SCENARIO_KINDS.includes((parsed as { scenario?: ScenarioKind }).scenario!)) {
    throw new BenchConfigError(`${file}: "scenario" must be one of ${SCENARIO_KINDS.join(', ')}`);
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in DEFAULT_BENCH)) throw new BenchConfigError(`${file}: unknown setting ${JSON.stringify(key)}`);
  }
  return parsed as ScenarioFile;
}

/** Merges defaults, the preset, a scenario file and flags, and checks the bounds. */
export function resolveBenchConfig(scenario: ScenarioKind, file: Partial<BenchConfig> | undefined, flags: Partial<BenchConfig>): BenchConfig {
  const defined = (o: Partial<BenchConfig> | undefined) => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined));
  const merged: BenchConfig = { ...DEFAULT_BENCH, ...SCENARIO_PRESETS[scenario], ...defined(file), ...defined(flags), scenario };
  // The nodes the run will start (raised to what the connections need, as run.ts does), or the targets given.
  const nodeCount = merged.nodes > 0 ? Math.max(merged.nodes, nodesNeeded(merged.connections, merged.maxPerNode)) : merged.targets.length;
  const crossNodeGiven = flags.crossNode ?? file?.crossNode;
  const c: BenchConfig = { ...merged, crossNode: crossNodeGiven ?? (merged.cluster !== undefined && nodeCount >= 2) };
  const positive = (key: keyof BenchConfig) => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new BenchConfigError(`--${kebab(key)} must be a positive number, got ${String(v)}`);
  };
  for (const key of ['connections', 'maxConnections', 'rampRate', 'rampConcurrency', 'maxDurationS', 'window', 'maxPerWorker', 'portsPerAddress', 'maxPerNode'] as const) positive(key);
  if (c.holdS < 0 || c.rate < 0 || c.payloadBytes < 0 || c.messagesPerInbox < 0 || c.reconnectRate < 0 || c.workers < 0 || c.nodes < 0) {
    throw new BenchConfigError('counts and durations must not be negative');
  }
  if (c.connections > c.maxConnections) throw new BenchConfigError(`--connections ${c.connections} is over --max-connections ${c.maxConnections}`);
  if (c.maxPerWorker > 19_000) throw new BenchConfigError('--max-per-worker may not exceed 19000 (the open-file limit is 20,000 per process)');
  if ((c.scenario === 'oneToOne' || c.scenario === 'offline') && c.connections % 2 !== 0) {
    throw new BenchConfigError(`${c.scenario} needs an even number of connections (pairs × 2)`);
  }
  if (c.nodes === 0 && c.targets.length === 0) throw new BenchConfigError('either --nodes > 0 or --target <ws://…> is needed');
  if (c.cluster !== undefined) {
    if (c.nodes === 0) throw new BenchConfigError('--cluster clusters the nodes the run starts (--nodes); --target nodes are already running: leave --cluster out (and give --cross-node if they are one cluster)');
    for (const url of c.cluster.split(',')) {
      if (!/^(nats|tls):\/\/[^\s/]+$/.test(url.trim())) throw new BenchConfigError(`--cluster takes NATS URLs (nats://host:port, comma separated), got ${JSON.stringify(url)}`);
    }
  }
  if (c.crossNode) {
    if (c.nodes > 0 && c.cluster === undefined) {
      throw new BenchConfigError('--cross-node needs --cluster: nodes started without it are independent (each its own store), so the ends of a pair on two of them never meet');
    }
    if (nodeCount < 2) throw new BenchConfigError(`--cross-node needs at least 2 nodes, got ${nodeCount}`);
  }
  for (const a of c.sourceAddresses) {
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a)) throw new BenchConfigError(`source address ${a} is not a loopback address (127.0.0.0/8)`);
  }
  if (c.e2ee && (c.scenario !== 'oneToOne' || c.connections > 2000)) {
    throw new BenchConfigError('--e2ee measures the client cost of encryption in oneToOne, at most 2000 connections (SecureClient binds no source address)');
  }
  if (c.scenario === 'groupFanout') throw new BenchConfigError('groupFanout is a slot for the groups issue: not implemented yet');
  return c;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
}

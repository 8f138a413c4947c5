/**
 * The node's one typed configuration object.
 *
 * Precedence: command-line flags > `PARLEY_*` environment variables > the
 * defaults in `DEFAULT_CONFIG`, which run a single node on the embedded store
 * with no external service. A real backend is used only when its setting is
 * present (for example `PARLEY_PG_URL`); absent means embedded.
 */
import path from 'node:path';
import { ParleyError } from '../protocol/errors.ts';

/** Log levels accepted by pino. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The whole configuration of one Parley node. */
export interface NodeConfig {
  /** Node name, unique in a cluster. @default `parley-<hostname-free random>` */
  readonly nodeId: string;
  /** Address the listeners bind to. @default '127.0.0.1' */
  readonly host: string;
  /** HTTP port for /healthz, /readyz and (later) /metrics; 0 picks a free port. @default 8080 */
  readonly httpPort: number;
  /** WebSocket gateway port for clients; 0 picks a free port. @default 8443 */
  readonly gatewayPort: number;
  /** Folder of the embedded store (SQLite file). @default './.data' */
  readonly dataDir: string;
  /** @default 'info' */
  readonly logLevel: LogLevel;
  /** How long a graceful shutdown may take before the node exits anyway. @default 10000 */
  readonly shutdownTimeoutMs: number;
  /**
   * fsync policy of the embedded store. 'normal': a commit survives a crash of
   * the node process (kill -9) — the WAL is written before `sent` — and is
   * fsynced at checkpoints; 'full': also survives power loss of the host, at
   * one fsync per commit. @default 'normal'
   */
  readonly embeddedSync: 'normal' | 'full';
  /**
   * Embedded inbox: how long (ms) a message or receipt to devices online on
   * this node may wait for their acks before it is written; acked first, it
   * is never written (store/embedded/deferred-appends.ts: what a crash can
   * then lose is a "delivered" receipt, never a message). 0 writes every
   * append at once. @default 200
   */
  readonly inboxDeferMs: number;
  /**
   * Cluster (the Cassandra inbox): how long (ms) a send handed over to
   * devices online anywhere in the cluster waits for their acks before it is
   * stored instead (actors/session-forward.ts); acked first, it is never
   * stored. 0 stores every send before `sent`. Longer than the embedded
   * wait: a forward that misses it costs a store on top of the hop, so on a
   * loaded cluster a short wait turns a latency spike into more load.
   * @default 2000
   */
  readonly clusterForwardMs: number;
  /** PostgreSQL connection string; unset = accounts and keys in the embedded store. */
  readonly pgUrl: string | undefined;
  /** PostgreSQL schema holding Parley's tables. @default 'parley' */
  readonly pgSchema: string;
  /** Redis URL; unset = presence in memory. */
  readonly redisUrl: string | undefined;
  /**
   * NATS servers (comma separated, `--cluster`); set = this node joins a
   * cluster over NATS (needs PARLEY_PG_URL and PARLEY_CASSANDRA_CONTACT_POINTS:
   * accounts and inboxes are shared); unset = a single node.
   */
  readonly natsUrl: string | undefined;
  /** Cluster name: nodes with the same name over the same NATS form one cluster (subject prefix, KV bucket). @default 'parley' */
  readonly clusterName: string;
  /**
   * Clustered inbox commit horizon (ms): an append is visible this long after
   * its id was minted or it fails (store/types.ts MultiWriterInbox). @default 10000
   */
  readonly commitHorizonMs: number;
  /** Cassandra contact points `host:port,…`; unset = inbox in the embedded store. */
  readonly cassandraContactPoints: string | undefined;
  /** @default 'datacenter1' */
  readonly cassandraLocalDataCenter: string;
  /** @default 'parley' */
  readonly cassandraKeyspace: string;
}

/** Defaults: one node, embedded store, loopback only. */
export const DEFAULT_CONFIG: Omit<NodeConfig, 'nodeId'> = {
  host: '127.0.0.1',
  httpPort: 8080,
  gatewayPort: 8443,
  dataDir: './.data',
  logLevel: 'info',
  shutdownTimeoutMs: 10_000,
  embeddedSync: 'normal',
  inboxDeferMs: 200,
  clusterForwardMs: 2000,
  pgUrl: undefined,
  pgSchema: 'parley',
  redisUrl: undefined,
  natsUrl: undefined,
  clusterName: 'parley',
  commitHorizonMs: 10_000,
  cassandraContactPoints: undefined,
  cassandraLocalDataCenter: 'datacenter1',
  cassandraKeyspace: 'parley',
};

/** Flags as the CLI hands them over (all optional, strings as typed). */
export type ConfigFlags = Partial<Record<keyof NodeConfig, string | number | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Environment variable for each setting. */
export const CONFIG_ENV: Readonly<Record<keyof NodeConfig, string>> = {
  nodeId: 'PARLEY_NODE_ID',
  host: 'PARLEY_HOST',
  httpPort: 'PARLEY_HTTP_PORT',
  gatewayPort: 'PARLEY_GATEWAY_PORT',
  dataDir: 'PARLEY_DATA_DIR',
  logLevel: 'PARLEY_LOG_LEVEL',
  shutdownTimeoutMs: 'PARLEY_SHUTDOWN_TIMEOUT_MS',
  embeddedSync: 'PARLEY_EMBEDDED_SYNC',
  inboxDeferMs: 'PARLEY_INBOX_DEFER_MS',
  clusterForwardMs: 'PARLEY_CLUSTER_FORWARD_MS',
  pgUrl: 'PARLEY_PG_URL',
  pgSchema: 'PARLEY_PG_SCHEMA',
  redisUrl: 'PARLEY_REDIS_URL',
  natsUrl: 'PARLEY_NATS_URL',
  clusterName: 'PARLEY_CLUSTER_NAME',
  commitHorizonMs: 'PARLEY_COMMIT_HORIZON_MS',
  cassandraContactPoints: 'PARLEY_CASSANDRA_CONTACT_POINTS',
  cassandraLocalDataCenter: 'PARLEY_CASSANDRA_LOCAL_DC',
  cassandraKeyspace: 'PARLEY_CASSANDRA_KEYSPACE',
};

/**
 * Builds the configuration from flags, environment and defaults, validating
 * every value. Throws `ParleyError('PARLEY_ERR_CONFIG')` naming the setting.
 */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const raw = (key: keyof NodeConfig): string | undefined => {
    const flag = flags[key];
    if (flag !== undefined && flag !== '') return String(flag);
    const fromEnv = env[CONFIG_ENV[key]];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const str = <K extends keyof NodeConfig>(key: K, fallback: string): string => raw(key) ?? fallback;
  const opt = (key: keyof NodeConfig): string | undefined => raw(key);
  const port = (key: 'httpPort' | 'gatewayPort'): number => {
    const value = raw(key);
    if (value === undefined) return DEFAULT_CONFIG[key];
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      throw configError(key, `must be a port number 0..65535, got ${JSON.stringify(value)}`);
    }
    return n;
  };
  const positiveInt = (key: 'shutdownTimeoutMs' | 'commitHorizonMs'): number => {
    const value = raw(key);
    if (value === undefined) return DEFAULT_CONFIG[key];
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw configError(key, `must be a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
  const logLevel = str('logLevel', DEFAULT_CONFIG.logLevel);
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw configError('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  const embeddedSync = str('embeddedSync', DEFAULT_CONFIG.embeddedSync);
  if (embeddedSync !== 'normal' && embeddedSync !== 'full') {
    throw configError('embeddedSync', `must be normal or full, got ${JSON.stringify(embeddedSync)}`);
  }
  const waitMs = (key: 'inboxDeferMs' | 'clusterForwardMs'): number => {
    const value = raw(key);
    const n = value === undefined ? DEFAULT_CONFIG[key] : Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 60_000) throw configError(key, `must be an integer 0..60000, got ${JSON.stringify(value)}`);
    return n;
  };
  const inboxDeferMs = waitMs('inboxDeferMs');
  const clusterForwardMs = waitMs('clusterForwardMs');
  const clusterName = str('clusterName', DEFAULT_CONFIG.clusterName);
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(clusterName)) throw configError('clusterName', `must match [A-Za-z0-9_-]{1,32}, got ${JSON.stringify(clusterName)}`);
  const commitHorizonMs = positiveInt('commitHorizonMs');
  if (commitHorizonMs < 1000) throw configError('commitHorizonMs', `must be at least 1000, got ${commitHorizonMs}`);
  const httpPort = port('httpPort');
  const gatewayPort = port('gatewayPort');
  if (httpPort !== 0 && httpPort === gatewayPort) {
    throw configError('gatewayPort', `must differ from httpPort (${httpPort})`);
  }
  const config: NodeConfig = {
    nodeId: str('nodeId', `parley-${process.pid}-${Math.random().toString(36).slice(2, 8)}`),
    host: str('host', DEFAULT_CONFIG.host),
    httpPort,
    gatewayPort,
    dataDir: path.resolve(str('dataDir', DEFAULT_CONFIG.dataDir)),
    logLevel: logLevel as LogLevel,
    shutdownTimeoutMs: positiveInt('shutdownTimeoutMs'),
    embeddedSync,
    inboxDeferMs,
    clusterForwardMs,
    pgUrl: opt('pgUrl'),
    pgSchema: str('pgSchema', DEFAULT_CONFIG.pgSchema),
    redisUrl: opt('redisUrl'),
    natsUrl: opt('natsUrl'),
    clusterName,
    commitHorizonMs,
    cassandraContactPoints: opt('cassandraContactPoints'),
    cassandraLocalDataCenter: str('cassandraLocalDataCenter', DEFAULT_CONFIG.cassandraLocalDataCenter),
    cassandraKeyspace: str('cassandraKeyspace', DEFAULT_CONFIG.cassandraKeyspace),
  };
  if (config.natsUrl !== undefined) {
    // Nodes of a cluster share accounts and inboxes: the embedded store is per node.
    if (config.pgUrl === undefined) throw configError('pgUrl', 'a clustered node (--cluster / PARLEY_NATS_URL) needs PostgreSQL for accounts and devices');
    if (config.cassandraContactPoints === undefined) throw configError('cassandraContactPoints', 'a clustered node (--cluster / PARLEY_NATS_URL) needs Cassandra for inboxes');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.nodeId)) throw configError('nodeId', `must match [A-Za-z0-9_-]{1,64} in a cluster, got ${JSON.stringify(config.nodeId)}`);
  }
  return config;
}

function configError(key: keyof NodeConfig, why: string): ParleyError {
  return new ParleyError('PARLEY_ERR_CONFIG', `invalid ${key} (${CONFIG_ENV[key]}): ${why}`, { details: { setting: key } });
}

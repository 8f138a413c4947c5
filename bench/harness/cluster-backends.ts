/**
 * What the nodes of a clustered run share, made for the run and removed after
 * it (`parley bench --cluster <nats-url>`):
 *
 * - a cluster name `parley_bench_<random>` of its own: the NATS subject prefix
 *   and the JetStream KV bucket `<name>-registry` (stream `KV_<name>-registry`),
 *   so the run never hears another cluster on the same NATS;
 * - a PostgreSQL schema and a Cassandra keyspace of the same name, on the
 *   servers the environment names (PARLEY_PG_URL, PARLEY_CASSANDRA_CONTACT_POINTS,
 *   PARLEY_CASSANDRA_LOCAL_DC) or the local defaults (scripts/services.ts,
 *   scripts/cassandra/settings.ts); the first node creates them (nodes migrate
 *   on start);
 * - Redis presence: PARLEY_REDIS_URL when set, else the local default when it
 *   answers, else each node's memory (reported as `presence`).
 *
 * `dropClusterBackends` removes the schema, the keyspace and the KV stream;
 * run.ts calls it after every node stopped, whatever ended the run.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import cassandra from 'cassandra-driver';
import { connect as connectNats } from 'nats';
import pg from 'pg';
import { cassandraSettings } from '../../scripts/cassandra/settings.ts';
import { serviceSettings } from '../../scripts/services.ts';
import { registryStream } from '../../server/chat-cluster.ts';

/** The shared stores of one clustered run. */
export interface ClusterBackends {
  /** NATS URL(s), comma separated, as given to `--cluster`. */
  readonly natsUrl: string;
  /** Cluster name, PostgreSQL schema and Cassandra keyspace: `parley_bench_<10 hex>`. */
  readonly name: string;
  readonly pgUrl: string;
  readonly cassandraContactPoints: string;
  readonly cassandraLocalDataCenter: string;
  readonly redisUrl: string;
  /** PARLEY_REDIS_URL was set: use it whether or not it answers now (the operator asked for it). */
  readonly redisGiven: boolean;
}

/** How each thing the run made was removed: `dropped`, or why not. */
export interface ClusterCleanup {
  readonly pgSchema: string;
  readonly cassandraKeyspace: string;
  readonly kvStream: string;
}

/** Names and servers for a run (pure but for the random name). */
export function planClusterBackends(natsUrl: string, env: NodeJS.ProcessEnv = process.env, name = `parley_bench_${randomBytes(5).toString('hex')}`): ClusterBackends {
  const services = serviceSettings(env);
  const cass = cassandraSettings();
  return {
    natsUrl,
    name,
    pgUrl: services.pgUrl,
    cassandraContactPoints: env.PARLEY_CASSANDRA_CONTACT_POINTS || cass.contactPoint,
    cassandraLocalDataCenter: env.PARLEY_CASSANDRA_LOCAL_DC || cass.localDataCenter,
    redisUrl: services.redisUrl,
    redisGiven: Boolean(env.PARLEY_REDIS_URL),
  };
}

/** The JetStream stream behind the cluster's registry bucket (cluster/jetstream-store.ts: bucket `<cluster>-registry`). */
export const kvStreamOf = (b: ClusterBackends): string => registryStream(b.name);

/** Whether the run's nodes get Redis presence: given, or the default answers within `timeoutMs`. */
export async function redisPresence(b: ClusterBackends, timeoutMs = 1000): Promise<boolean> {
  if (b.redisGiven) return true;
  const url = new URL(b.redisUrl);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The environment of a clustered node (with `parley start --cluster <natsUrl> --node-id …`). */
export function clusterNodeEnv(b: ClusterBackends, redis: boolean): Record<string, string> {
  return {
    PARLEY_CLUSTER_NAME: b.name,
    PARLEY_PG_URL: b.pgUrl,
    PARLEY_PG_SCHEMA: b.name,
    PARLEY_CASSANDRA_CONTACT_POINTS: b.cassandraContactPoints,
    PARLEY_CASSANDRA_LOCAL_DC: b.cassandraLocalDataCenter,
    PARLEY_CASSANDRA_KEYSPACE: b.name,
    ...(redis ? { PARLEY_REDIS_URL: b.redisUrl } : {}),
  };
}

const why = (err: unknown) => `error: ${err instanceof Error ? err.message : String(err)}`;

/** Runs one drop on a client of its own: 'dropped', or what went wrong (`absent(err)` may name a benign miss); the client is closed either way. */
async function dropWith<C>(open: () => C | Promise<C>, drop: (client: C) => Promise<unknown>, close: (client: C) => Promise<unknown>, absent?: (err: unknown) => boolean): Promise<string> {
  let client: C | undefined;
  try {
    client = await open();
    await drop(client);
    return 'dropped';
  } catch (err) {
    return absent?.(err) === true ? 'absent' : why(err);
  } finally {
    if (client !== undefined) await close(client).catch(() => undefined);
  }
}

function dropSchema(b: ClusterBackends): Promise<string> {
  return dropWith(
    () => new pg.Client({ connectionString: b.pgUrl, connectionTimeoutMillis: 10_000, query_timeout: 60_000 }),
    async (client) => {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${b.name}" CASCADE`);
    },
    (client) => client.end(),
  );
}

function dropKeyspace(b: ClusterBackends): Promise<string> {
  return dropWith(
    () => new cassandra.Client({
      contactPoints: b.cassandraContactPoints.split(',').map((s) => s.trim()),
      localDataCenter: b.cassandraLocalDataCenter,
      // A keyspace drop waits for schema agreement and flushes its tables: slow on a busy node.
      socketOptions: { connectTimeout: 10_000, readTimeout: 120_000 },
    }),
    (client) => client.execute(`DROP KEYSPACE IF EXISTS ${b.name}`),
    (client) => client.shutdown(),
  );
}

function deleteKvStream(b: ClusterBackends): Promise<string> {
  return dropWith(
    () => connectNats({ servers: b.natsUrl.split(',').map((s) => s.trim()), name: 'parley-bench-cleanup', timeout: 10_000 }),
    async (nc) => (await nc.jetstreamManager()).streams.delete(kvStreamOf(b)),
    (nc) => nc.close(),
    // No node got as far as opening the registry: nothing to delete.
    (err) => err instanceof Error && /stream not found/i.test(err.message),
  );
}

/** Drops the schema, the keyspace and the KV stream (each bounded; a failure is reported, not thrown). */
export async function dropClusterBackends(b: ClusterBackends): Promise<ClusterCleanup> {
  const [pgSchema, cassandraKeyspace, kvStream] = await Promise.all([dropSchema(b), dropKeyspace(b), deleteKvStream(b)]);
  return { pgSchema, cassandraKeyspace, kvStream };
}

/** What to run by hand when a run could not remove what it made (a second Ctrl-C, a failed drop). */
export function manualCleanup(b: ClusterBackends): string {
  return `psql ${b.pgUrl} -c 'DROP SCHEMA "${b.name}" CASCADE'; cqlsh -e 'DROP KEYSPACE ${b.name}'; nats stream rm ${kvStreamOf(b)} -f`;
}

/**
 * Keyspace and tables of the Cassandra inbox, created by versioned migrations
 * on open (and by `migrateCassandra`). History: `<keyspace>.schema_migrations`.
 * Cassandra DDL is neither transactional nor serialised between nodes, so
 * every statement is `IF NOT EXISTS` and a migration is recorded only after
 * all its statements ran: a re-run after a crash, or two nodes at once,
 * converge on the same schema. A history naming a version this code does not
 * know was written by newer code: PARLEY_ERR_STORE_SCHEMA.
 *
 * Schema (migration 1) — the shape of a per-device queue, tuned against tombstones:
 *
 * inbox_entries  PRIMARY KEY ((recipient_user, recipient_device, bucket), id)
 *   One partition per recipient device and time bucket (one day by default, of
 *   the id's timestamp). Unbucketed, a partition is bounded only by retention ×
 *   arrival rate: a device offline for 30 days in busy groups collects millions
 *   of rows, far past the ~100 MB a partition should stay under. With day
 *   buckets each partition holds one day of one device.
 *   Rows carry `USING TTL <inbox retention>`; an ack is ONE range tombstone
 *   per bucket it covers (`id <= ?`), never one tombstone per row, and reads
 *   start at the device's acked cursor (`id > cursor`), so a read never walks
 *   the deleted region.
 *   Compaction: TimeWindowCompactionStrategy, 1-day windows = the bucket. A
 *   partition then lives in one or two windows (a read touches few SSTables),
 *   and because every row of a window has the same TTL, a window's SSTable
 *   (rows and the range tombstones that acked them, written minutes later into
 *   the same window) becomes droppable whole once its TTL and gc_grace pass:
 *   no compaction needs to merge old data with tombstones. The recipe's
 *   "don't delete in TWCS" worry is about deletes landing in a later window
 *   than their data; here most acks follow their rows within seconds. LCS would
 *   keep reads at ~1 SSTable too but rewrites TTL'd data repeatedly, and
 *   UCS/STCS would mix days and keep tombstones alive with old data.
 *   gc_grace_seconds: 1 day instead of 10. A row resurrected because a
 *   replica missed a tombstone lies below the device's cursor, so it is never
 *   delivered or counted again and expires by TTL; shorter grace frees space sooner.
 *
 * inbox_buckets  PRIMARY KEY ((recipient_user, recipient_device), bucket)
 *   Which buckets of a device may hold rows, so a read lists them in one
 *   query instead of probing every day of the retention. Written once per
 *   device per bucket (cached in the sequencer), TTL = retention + 1 bucket.
 *
 * inbox_cursor   PRIMARY KEY ((recipient_user, recipient_device))
 *   The device's cumulative ack (`acked_upto`). Overwritten, never deleted.
 *
 * inbox_dedup    PRIMARY KEY ((sender_user, sender_device, client_message_id))
 *   The original result of a send, TTL = dedup retention. Insert-once
 *   (a message id reused without `resend` overwrites it: see
 *   cassandra-inbox-store.ts), same TTL for all rows: TWCS drops whole
 *   expired SSTables.
 */
import cassandra from 'cassandra-driver';
import { StoreError, invalidInput } from '../errors.ts';
import { translateCassandraError } from './cassandra-errors.ts';

export interface CqlMigration {
  readonly version: number;
  readonly name: string;
  /** Statements with `{ks}` standing for the keyspace name. */
  readonly statements: readonly string[];
}

const TWCS_DAY = `{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}`;
const LCS = `{'class': 'LeveledCompactionStrategy'}`;

export const CASSANDRA_MIGRATIONS: readonly CqlMigration[] = [
  {
    version: 1,
    name: 'inbox entries, buckets, cursors and de-duplication keys',
    statements: [
      `CREATE TABLE IF NOT EXISTS {ks}.inbox_entries (
         recipient_user    uuid,
         recipient_device  int,
         bucket            int,
         id                timeuuid,
         sender_user       uuid,
         sender_device     int,
         client_message_id text,
         kind              text,
         server_ts         bigint,
         payload           blob,
         PRIMARY KEY ((recipient_user, recipient_device, bucket), id)
       ) WITH CLUSTERING ORDER BY (id ASC)
         AND compaction = ${TWCS_DAY}
         AND gc_grace_seconds = 86400`,
      // small, read on every inbox read, overwritten in place: LCS keeps each in ~1 SSTable
      `CREATE TABLE IF NOT EXISTS {ks}.inbox_buckets (
         recipient_user   uuid,
         recipient_device int,
         bucket           int,
         PRIMARY KEY ((recipient_user, recipient_device), bucket)
       ) WITH CLUSTERING ORDER BY (bucket ASC) AND compaction = ${LCS}`,
      `CREATE TABLE IF NOT EXISTS {ks}.inbox_cursor (
         recipient_user   uuid,
         recipient_device int,
         acked_upto       timeuuid,
         PRIMARY KEY ((recipient_user, recipient_device))
       ) WITH compaction = ${LCS}`,
      `CREATE TABLE IF NOT EXISTS {ks}.inbox_dedup (
         sender_user       uuid,
         sender_device     int,
         client_message_id text,
         server_ts         bigint,
         result            text,
         PRIMARY KEY ((sender_user, sender_device, client_message_id))
       ) WITH compaction = ${TWCS_DAY}`,
    ],
  },
];

/** Keyspace replication, as in CREATE KEYSPACE … WITH replication = {…}. */
export type CassandraReplication =
  | { readonly class: 'SimpleStrategy'; readonly replication_factor: number }
  | { readonly class: 'NetworkTopologyStrategy'; readonly [dataCenter: string]: number | string };

/** Production should pass NetworkTopologyStrategy with RF 3 per DC; RF 1 is for a single test node. */
export const DEFAULT_CASSANDRA_REPLICATION: CassandraReplication = { class: 'SimpleStrategy', replication_factor: 1 };

const KEYSPACE_RE = /^[a-z_][a-z0-9_]{0,47}$/;

export function checkKeyspace(keyspace: string): void {
  if (typeof keyspace !== 'string' || !KEYSPACE_RE.test(keyspace)) throw invalidInput('keyspace', 'not a lower-case CQL identifier of at most 48 characters');
}

function replicationCql(r: CassandraReplication): string {
  const parts = Object.entries(r).map(([k, v]) => {
    if (!/^[A-Za-z0-9_]+$/.test(k) || !/^[A-Za-z0-9_]+$/.test(String(v))) throw invalidInput('replication', `bad entry ${k}`);
    return `'${k}': '${String(v)}'`;
  });
  return `{${parts.join(', ')}}`;
}

/**
 * Creates the keyspace if needed and applies the pending migrations on a
 * connected client. Returns the versions applied now.
 */
export async function migrateKeyspace(
  client: cassandra.Client,
  keyspace: string,
  replication: CassandraReplication = DEFAULT_CASSANDRA_REPLICATION,
  migrations: readonly CqlMigration[] = CASSANDRA_MIGRATIONS,
): Promise<number[]> {
  checkKeyspace(keyspace);
  const exec = async (cql: string, params?: unknown[]): Promise<cassandra.types.ResultSet> => {
    try {
      // the driver waits for schema agreement after DDL; history rows are read and written at LOCAL_QUORUM
      return await client.execute(cql, params, { prepare: params !== undefined, consistency: cassandra.types.consistencies.localQuorum });
    } catch (err) {
      throw translateCassandraError(err, 'migrate');
    }
  };
  await exec(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationCql(replication)}`);
  await exec(`CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)`);
  const applied = new Set((await exec(`SELECT version FROM ${keyspace}.schema_migrations`)).rows.map((r) => r['version'] as number));
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...applied].filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new StoreError('PARLEY_ERR_STORE_SCHEMA', `keyspace ${keyspace} has versions unknown to this code: ${unknown.join(', ')}`, {
      details: { keyspace, unknown, known: [...known] },
    });
  }
  const done: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    for (const statement of m.statements) {
      try {
        await client.execute(statement.replaceAll('{ks}', keyspace));
      } catch (cause) {
        const t = translateCassandraError(cause, 'migrate');
        if (t instanceof StoreError) throw t;
        throw new StoreError('PARLEY_ERR_STORE_SCHEMA', `migration ${m.version} (${m.name}) failed`, { cause, details: { keyspace, version: m.version } });
      }
    }
    await exec(`INSERT INTO ${keyspace}.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, [m.version, m.name, new Date()]);
    done.push(m.version);
  }
  return done;
}

export interface CassandraConnectOptions {
  /** `host` or `host:port` of one or more nodes (PARLEY_CASSANDRA_CONTACT_POINTS). */
  readonly contactPoints: readonly string[];
  /** The data center this node reads and writes in (`datacenter1` with SimpleSnitch). */
  readonly localDataCenter: string;
}

/** `parley migrate` for Cassandra: connects, migrates `keyspace`, disconnects. */
export async function migrateCassandra(
  options: CassandraConnectOptions & { keyspace: string; replication?: CassandraReplication },
): Promise<number[]> {
  checkKeyspace(options.keyspace);
  const client = new cassandra.Client({ contactPoints: [...options.contactPoints], localDataCenter: options.localDataCenter });
  try {
    try {
      await client.connect();
    } catch (err) {
      throw translateCassandraError(err, 'migrate.connect');
    }
    return await migrateKeyspace(client, options.keyspace, options.replication);
  } finally {
    await client.shutdown().catch(() => {});
  }
}

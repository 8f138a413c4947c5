/**
 * `openCassandraInbox`: one cassandra-driver Client (one per process, as the
 * driver advises), the keyspace migrated on open, and the CassandraInboxStore.
 *
 * Driver settings and why:
 * - `prepare: true` on every statement (server-side parsing once, token-aware
 *   routing to a replica of the partition).
 * - Client-side monotonic write timestamps (driver default): a compensating
 *   delete issued after an insert always has the larger timestamp.
 * - Reconnection: exponential from `reconnectBaseDelayMs` up to
 *   `reconnectMaxDelayMs` (driver default max is 10 min, too long for a node
 *   that should serve again soon after Cassandra is back).
 * - bigint as JS bigint (no Long objects).
 */
import cassandra from 'cassandra-driver';
import type { InboxRetention, InboxStore } from '../types.ts';
import { translateCassandraError } from './cassandra-errors.ts';
import { CassandraInboxStore, DEFAULT_CASSANDRA_INBOX_SETTINGS, type CassandraConsistency } from './cassandra-inbox-store.ts';
import type { WriteBatchLimits } from './write-coalescer.ts';
import { DEFAULT_CASSANDRA_REPLICATION, checkKeyspace, migrateKeyspace, type CassandraReplication } from './migrations.ts';

export interface CassandraInboxOptions {
  /** `host` or `host:port` of one or more nodes (PARLEY_CASSANDRA_CONTACT_POINTS). */
  readonly contactPoints: readonly string[];
  /** Data center of this node (`datacenter1` with SimpleSnitch). */
  readonly localDataCenter: string;
  /** Keyspace, created by the migration if missing. */
  readonly keyspace: string;
  /** Used only when the keyspace is created. @default SimpleStrategy RF 1 (tests; production: NetworkTopologyStrategy RF 3) */
  readonly replication?: CassandraReplication;
  /** @default 'localQuorum' */
  readonly consistency?: CassandraConsistency;
  /** @default DEFAULT_INBOX_RETENTION (30 days / 7 days), as row TTLs */
  readonly retention?: Partial<InboxRetention>;
  /** Inbox partition time bucket. @default 86_400_000 (one day, = the TWCS window) */
  readonly bucketMs?: number;
  /** Client-side timeout of one request. @default 12_000 (driver default) */
  readonly readTimeoutMs?: number;
  /** @default 1000 */
  readonly reconnectBaseDelayMs?: number;
  /** @default 30_000 */
  readonly reconnectMaxDelayMs?: number;
  /** Clock for minting ids (tests). @default Date.now */
  readonly now?: () => number;
  /**
   * Multi-writer mode: several nodes append to one device (a cluster); the
   * inbox then has `multiWriter`. Integer ≥ 1000 ms, above twice the nodes'
   * clock skew (PARLEY_COMMIT_HORIZON_MS). @default undefined (one writer per device)
   */
  readonly commitHorizonMs?: number;
  /** Caps of the UNLOGGED batches appends' rows are coalesced into (./write-coalescer.ts). @default DEFAULT_WRITE_BATCH_LIMITS (10 rows, 5 KiB) */
  readonly writeBatch?: Partial<WriteBatchLimits>;
}

export interface CassandraInbox {
  readonly inbox: InboxStore;
  /** The driver client (health checks, tests). */
  readonly client: cassandra.Client;
  /** Shuts the client down; idempotent. Later calls reject PARLEY_ERR_STORE_UNAVAILABLE. */
  close(): Promise<void>;
}

export const DEFAULT_CASSANDRA_INBOX_OPTIONS = {
  ...DEFAULT_CASSANDRA_INBOX_SETTINGS,
  replication: DEFAULT_CASSANDRA_REPLICATION,
  readTimeoutMs: 12_000,
  reconnectBaseDelayMs: 1000,
  reconnectMaxDelayMs: 30_000,
} as const;

export async function openCassandraInbox(options: CassandraInboxOptions): Promise<CassandraInbox> {
  const d = DEFAULT_CASSANDRA_INBOX_OPTIONS;
  checkKeyspace(options.keyspace);
  const client = new cassandra.Client({
    contactPoints: [...options.contactPoints],
    localDataCenter: options.localDataCenter,
    // peers found through system tables are reached on the contact points' port, not always 9042
    protocolOptions: { port: sharedPort(options.contactPoints) ?? 9042 },
    encoding: { useBigIntAsLong: true },
    socketOptions: { readTimeout: options.readTimeoutMs ?? d.readTimeoutMs },
    policies: {
      reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(
        options.reconnectBaseDelayMs ?? d.reconnectBaseDelayMs,
        options.reconnectMaxDelayMs ?? d.reconnectMaxDelayMs,
        false,
      ),
    },
  });
  // validates the settings before any connection is made (nothing to shut down if they are invalid)
  const inbox = new CassandraInboxStore(client, {
    keyspace: options.keyspace,
    ...(options.retention ? { retention: options.retention } : {}),
    ...(options.consistency ? { consistency: options.consistency } : {}),
    ...(options.bucketMs ? { bucketMs: options.bucketMs } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.commitHorizonMs !== undefined ? { commitHorizonMs: options.commitHorizonMs } : {}),
    ...(options.writeBatch ? { writeBatch: options.writeBatch } : {}),
  });
  try {
    try {
      await client.connect();
    } catch (err) {
      throw translateCassandraError(err, 'open');
    }
    await migrateKeyspace(client, options.keyspace, options.replication ?? d.replication);
  } catch (err) {
    await client.shutdown().catch(() => {});
    throw err;
  }
  let shut: Promise<void> | undefined;
  return {
    inbox,
    client,
    close() {
      inbox.markClosed();
      shut ??= client.shutdown();
      return shut;
    },
  };
}

/** The port every `host:port` contact point names, if they all name the same one. */
function sharedPort(contactPoints: readonly string[]): number | undefined {
  const ports = new Set(contactPoints.map((c) => /:(\d+)$/.exec(c)?.[1]));
  if (ports.size !== 1) return undefined;
  const [p] = ports;
  return p === undefined ? undefined : Number(p);
}

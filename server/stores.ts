/**
 * Which backend serves each store on this node (ARCHITECTURE §5), from the
 * config: PostgreSQL for accounts, devices and pre-keys when PARLEY_PG_URL is
 * set; Cassandra for the inbox when PARLEY_CASSANDRA_CONTACT_POINTS is set;
 * the embedded SQLite file otherwise (always opened: it is the default and
 * costs nothing when unused). Presence: Redis when PARLEY_REDIS_URL is set,
 * in memory otherwise.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AccountStore, InboxStore, PresenceStore } from '../store/types.ts';
import type { PreKeyStore } from '../store/prekeys.ts';
import { openEmbeddedStores } from '../store/embedded/index.ts';
import { openPostgresStores } from '../store/postgres/index.ts';
import { openCassandraInbox } from '../store/cassandra/index.ts';
import { openRedisPresence } from '../store/redis/index.ts';
import { MemoryPresenceStore } from '../store/embedded/memory-presence-store.ts';
import type { NodeConfig } from './config.ts';

/** The stores a node uses, and which backend each one is. */
export interface NodeStores {
  readonly accounts: AccountStore;
  readonly inbox: InboxStore;
  readonly prekeys: PreKeyStore;
  readonly presence: PresenceStore;
  readonly backends: { readonly accounts: string; readonly inbox: string; readonly prekeys: string; readonly presence: string };
  /** Closes every backend (embedded last: it flushes its writer thread). */
  close(): Promise<void>;
}

/** Opens the stores the config selects; schema migrations run on open. */
export async function openNodeStores(
  config: NodeConfig,
  onPresenceError: (err: Error) => void = () => {},
  onCheckpointFailure: (message: string) => void = () => {},
): Promise<NodeStores> {
  mkdirSync(config.dataDir, { recursive: true });
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  try {
    const embedded = await openEmbeddedStores({
      path: path.join(config.dataDir, 'parley.db'),
      synchronous: config.embeddedSync,
      deferMs: config.inboxDeferMs,
      onCheckpoint: (report) => {
        if (!report.ok) onCheckpointFailure(report.message);
      },
    });
    closers.push(() => embedded.close());
    let accounts: AccountStore = embedded.accounts;
    let prekeys: PreKeyStore = embedded.prekeys;
    let inbox: InboxStore = embedded.inbox;
    let presence: PresenceStore = new MemoryPresenceStore();
    const backends = { accounts: 'sqlite', inbox: 'sqlite', prekeys: 'sqlite', presence: 'memory' };
    if (config.pgUrl !== undefined) {
      const pg = await openPostgresStores({ url: config.pgUrl, schema: config.pgSchema });
      closers.push(() => pg.close());
      accounts = pg.accounts;
      prekeys = pg.prekeys;
      backends.accounts = backends.prekeys = 'postgres';
    }
    if (config.cassandraContactPoints !== undefined) {
      const cass = await openCassandraInbox({
        contactPoints: config.cassandraContactPoints.split(',').map((s) => s.trim()).filter((s) => s !== ''),
        localDataCenter: config.cassandraLocalDataCenter,
        keyspace: config.cassandraKeyspace,
        // A cluster: every node appends to any device's inbox (store/types.ts MultiWriterInbox).
        ...(config.natsUrl === undefined ? {} : { commitHorizonMs: config.commitHorizonMs }),
      });
      closers.push(() => cass.close());
      inbox = cass.inbox;
      backends.inbox = 'cassandra';
    }
    if (config.redisUrl !== undefined) {
      const redis = await openRedisPresence({ url: config.redisUrl, onFlushError: onPresenceError });
      closers.push(() => redis.close());
      presence = redis.presence;
      backends.presence = 'redis';
    }
    return { accounts, inbox, prekeys, presence, backends, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

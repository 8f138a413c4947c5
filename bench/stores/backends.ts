/**
 * The stores under test, each in a throw-away place: SQLite files in a temp
 * folder, a Cassandra keyspace `parley_bench_<random>` and a PostgreSQL schema
 * `parley_bench_<random>`. Every opener returns a `dispose` that closes the
 * store and removes what it created; run.ts calls them in `finally`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import cassandra from 'cassandra-driver';
import pg from 'pg';
import { openCassandraInbox } from '../../store/cassandra/index.ts';
import { CassandraInboxStore } from '../../store/cassandra/cassandra-inbox-store.ts';
import { openEmbeddedStores, type EmbeddedStores } from '../../store/embedded/index.ts';
import { openPostgresStores, type PostgresStores } from '../../store/postgres/index.ts';
import type { InboxStore } from '../../store/types.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';
import { serviceSettings } from '../../scripts/services.ts';

export type InboxBackendName = 'sqlite-normal' | 'sqlite-full' | 'cassandra';

/** One inbox backend, opened for the bench. */
export interface InboxBackend {
  readonly name: InboxBackendName;
  readonly inbox: InboxStore;
  /**
   * A store with no per-device state cached in this process, as after a node
   * restart or an owner change (Cassandra loads the device's cursor on first
   * use; SQLite has no such state, so it is the same store).
   */
  coldInbox(): InboxStore;
  /** Moves recent writes to their long-term home: a memtable flush (Cassandra), a WAL checkpoint (SQLite). */
  settle(): Promise<SettleReport>;
  /** What the inbox occupies on disk now. */
  onDisk(): DiskReport;
  dispose(): Promise<void>;
}

export interface SettleReport {
  readonly how: string;
  readonly ok: boolean;
  readonly ms: number;
}

export interface DiskReport {
  /** Cassandra: live SSTables (Data.db files) of inbox_entries; SQLite: 1 (the database file). */
  readonly files: number;
  readonly bytes: number;
  /** SQLite: bytes in the -wal file; Cassandra: undefined. */
  readonly walBytes?: number;
}

export const benchTag = (): string => `parley_bench_${randomBytes(5).toString('hex')}`;

/** A SQLite database file in its own temp folder, removed by dispose. */
export async function openSqliteInbox(synchronous: 'normal' | 'full', label: string = synchronous): Promise<InboxBackend & { stores: EmbeddedStores }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `parley-bench-stores-${label}-`));
  const file = path.join(dir, 'parley.db');
  const stores = await openEmbeddedStores({ path: file, synchronous });
  return {
    name: synchronous === 'full' ? 'sqlite-full' : 'sqlite-normal',
    stores,
    inbox: stores.inbox,
    coldInbox: () => stores.inbox,
    async settle() {
      const t0 = performance.now();
      // a second connection: the store does not expose its own
      const db = new Database(file, { timeout: 5000 });
      try {
        const r = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
        return { how: 'PRAGMA wal_checkpoint(TRUNCATE)', ok: r[0]?.busy === 0, ms: performance.now() - t0 };
      } finally {
        db.close();
      }
    },
    onDisk() {
      const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
      return { files: 1, bytes: size(file), walBytes: size(`${file}-wal`) };
    },
    async dispose() {
      try {
        await stores.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Where the detached test node keeps its data (from its state file), if this machine runs it. */
function cassandraDataDir(): string | undefined {
  try {
    const state = JSON.parse(readFileSync(path.join(process.cwd(), '.cache/cassandra/run/cassandra.json'), 'utf8')) as { runDir?: string };
    return state.runDir === undefined ? undefined : path.join(state.runDir, 'data');
  } catch {
    return undefined;
  }
}

/** The detached node's log, to look for tombstone warnings about our keyspace. */
export const CASSANDRA_LOG = path.join(process.cwd(), '.cache/cassandra/run/cassandra.log');

/** A fresh keyspace on the shared Cassandra node, dropped by dispose. */
export async function openCassandraBench(): Promise<InboxBackend & { keyspace: string; client: cassandra.Client }> {
  const s = cassandraSettings();
  const keyspace = benchTag();
  const opened = await openCassandraInbox({ contactPoints: [s.contactPoint], localDataCenter: s.localDataCenter, keyspace });
  const dataRoot = cassandraDataDir();
  const tableDir = (): string | undefined => {
    if (dataRoot === undefined) return undefined;
    const ks = path.join(dataRoot, keyspace);
    if (!existsSync(ks)) return undefined;
    const t = readdirSync(ks).find((d) => d.startsWith('inbox_entries-'));
    return t === undefined ? undefined : path.join(ks, t);
  };
  const onDisk = (): DiskReport => {
    const dir = tableDir();
    if (dir === undefined) return { files: -1, bytes: -1 };
    let files = 0;
    let bytes = 0;
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.db')) continue;
      bytes += statSync(path.join(dir, f)).size;
      if (f.endsWith('-Data.db')) files++;
    }
    return { files, bytes };
  };
  const exec = (cql: string) => opened.client.execute(cql);
  return {
    name: 'cassandra',
    keyspace,
    client: opened.client,
    inbox: opened.inbox,
    coldInbox: () => new CassandraInboxStore(opened.client, { keyspace }),
    /**
     * No nodetool here, and CQL has no FLUSH; but a table's
     * `memtable_flush_period_in_ms` schedules a flush of its memtable when set.
     * Set it to 1 s, wait until a new SSTable appears, set it back to 0.
     */
    async settle() {
      const t0 = performance.now();
      const before = onDisk().files;
      await exec(`ALTER TABLE ${keyspace}.inbox_entries WITH memtable_flush_period_in_ms = 1000`);
      let ok = false;
      try {
        while (performance.now() - t0 < 20_000) {
          await new Promise((r) => setTimeout(r, 250));
          if (onDisk().files > before) {
            ok = true;
            break;
          }
        }
      } finally {
        await exec(`ALTER TABLE ${keyspace}.inbox_entries WITH memtable_flush_period_in_ms = 0`);
      }
      // let the flush finish writing its components
      await new Promise((r) => setTimeout(r, 500));
      return { how: 'ALTER TABLE … memtable_flush_period_in_ms = 1000, then 0', ok, ms: performance.now() - t0 };
    },
    onDisk,
    async dispose() {
      try {
        await exec(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      } finally {
        await opened.close();
      }
    },
  };
}

/** A fresh schema on the shared PostgreSQL server, dropped by dispose. */
export async function openPostgresBench(poolSize: number): Promise<{ stores: PostgresStores; schema: string; dispose(): Promise<void> }> {
  const schema = benchTag();
  const url = serviceSettings().pgUrl;
  const stores = await openPostgresStores({ url, schema, poolSize, applicationName: 'parley-bench-stores' });
  return {
    stores,
    schema,
    async dispose() {
      await stores.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

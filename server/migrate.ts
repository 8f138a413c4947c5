/**
 * `parley migrate`: brings every configured backend's schema to this build's
 * version and reports what it applied. Nodes also migrate on start; this is
 * for operators who migrate before rolling out.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { openEmbeddedStores } from '../store/embedded/index.ts';
import { migratePostgres } from '../store/postgres/index.ts';
import { migrateCassandra } from '../store/cassandra/index.ts';
import type { NodeConfig } from './config.ts';

/** Migrates the embedded database and, when configured, PostgreSQL and Cassandra. One line per backend. */
export async function migrateAll(config: NodeConfig): Promise<string[]> {
  const lines: string[] = [];
  const applied = (versions: readonly number[]) => (versions.length === 0 ? 'up to date' : `applied ${versions.join(', ')}`);
  mkdirSync(config.dataDir, { recursive: true });
  const file = path.join(config.dataDir, 'parley.db');
  const embedded = await openEmbeddedStores({ path: file });
  await embedded.close();
  lines.push(`embedded ${file}: up to date`);
  if (config.pgUrl !== undefined) {
    lines.push(`postgres schema ${config.pgSchema}: ${applied(await migratePostgres(config.pgUrl, { schema: config.pgSchema }))}`);
  }
  if (config.cassandraContactPoints !== undefined) {
    const versions = await migrateCassandra({
      contactPoints: config.cassandraContactPoints.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      localDataCenter: config.cassandraLocalDataCenter,
      keyspace: config.cassandraKeyspace,
    });
    lines.push(`cassandra keyspace ${config.cassandraKeyspace}: ${applied(versions)}`);
  }
  return lines;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import cassandra from 'cassandra-driver';
import { serviceSettings } from '../../scripts/services.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';

test('migrate - `parley migrate` applies every backend\'s migrations once, then reports them up to date', async () => {
  const id = randomBytes(5).toString('hex');
  const schema = `parley_mig_${id}`;
  const keyspace = `parley_mig_${id}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-migrate-'));
  const cass = cassandraSettings();
  const env = {
    ...process.env,
    PARLEY_PG_URL: serviceSettings().pgUrl, PARLEY_PG_SCHEMA: schema,
    PARLEY_CASSANDRA_CONTACT_POINTS: cass.contactPoint, PARLEY_CASSANDRA_KEYSPACE: keyspace, PARLEY_CASSANDRA_LOCAL_DC: cass.localDataCenter,
  };
  const migrate = () => spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'migrate', '--data-dir', dataDir], { env, encoding: 'utf8' });
  try {
    const first = migrate();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`postgres schema ${schema}: applied 1, 2`));
    assert.match(first.stdout, new RegExp(`cassandra keyspace ${keyspace}: applied 1`));
    const second = migrate();
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`postgres schema ${schema}: up to date`));
    assert.match(second.stdout, new RegExp(`cassandra keyspace ${keyspace}: up to date`));
  } finally {
    const admin = new pg.Client({ connectionString: serviceSettings().pgUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    const c = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter });
    await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await c.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

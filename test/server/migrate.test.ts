import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serviceSettings } from '../../scripts/services.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';
import { freshBackends } from '../support/backends.ts';

test('migrate - `parley migrate` applies every backend\'s migrations once, then reports them up to date', async () => {
  const backends = freshBackends('parley_mig');
  const { schema, keyspace } = backends;
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
    await backends.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

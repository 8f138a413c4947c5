/**
 * PostgresAccountStore against the AccountStore contract, plus what only a
 * server can show: migrations (history, refusal of newer versions, two nodes
 * migrating at once) and a pool that outlives connections killed by the
 * server. Every run uses a fresh schema `parley_test_<random>` in the shared
 * database and drops it at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { serviceSettings } from '../../scripts/services.ts';
import { migratePostgres, openPostgresStores, POSTGRES_MIGRATIONS } from '../../store/postgres/index.ts';
import { accountContract } from './contracts/account-contract.ts';
import { rejectsWith } from './contracts/helpers.ts';

const url = serviceSettings().pgUrl;
const runId = randomBytes(6).toString('hex');
const schema = `parley_test_${runId}`;
const admin = new pg.Client({ connectionString: url });
const extraSchemas: string[] = [];

before(async () => {
  await admin.connect();
});
after(async () => {
  for (const s of [schema, ...extraSchemas]) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await admin.end();
});

accountContract('PostgresAccountStore', async () => {
  const stores = await openPostgresStores({ url, schema, poolSize: 4 });
  return { accounts: stores.accounts, close: () => stores.close() };
});

function newSchema(tag: string): string {
  const s = `parley_test_${runId}_${tag}`;
  extraSchemas.push(s);
  return s;
}

test('PostgresAccountStore - migrations record their history and run once', async () => {
  const s = newSchema('history');
  assert.deepEqual(await migratePostgres(url, { schema: s }), POSTGRES_MIGRATIONS.map((m) => m.version));
  assert.deepEqual(await migratePostgres(url, { schema: s }), [], 'a second run applies nothing');
  const rows = (await admin.query<{ version: number; name: string }>(`SELECT version, name FROM "${s}".schema_migrations ORDER BY version`)).rows;
  assert.deepEqual(rows.map((r) => [r.version, r.name]), POSTGRES_MIGRATIONS.map((m) => [m.version, m.name]));
  const stores = await openPostgresStores({ url, schema: s });
  await stores.close();
});

test('PostgresAccountStore - nodes migrating one schema at once apply each version exactly once', async () => {
  const s = newSchema('race');
  const results = await Promise.all(Array.from({ length: 4 }, () => migratePostgres(url, { schema: s })));
  assert.deepEqual(results.flat().sort(), POSTGRES_MIGRATIONS.map((m) => m.version), 'each version applied by exactly one caller');
  const n = (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${s}".schema_migrations`)).rows[0]!.n;
  assert.equal(Number(n), POSTGRES_MIGRATIONS.length);
});

test('PostgresAccountStore - a schema written by newer code refuses to open with PARLEY_ERR_STORE_SCHEMA', async () => {
  const s = newSchema('newer');
  await migratePostgres(url, { schema: s });
  await admin.query(`INSERT INTO "${s}".schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)`);
  await rejectsWith(openPostgresStores({ url, schema: s }), 'PARLEY_ERR_STORE_SCHEMA');
  await rejectsWith(migratePostgres(url, { schema: s }), 'PARLEY_ERR_STORE_SCHEMA');
});

test('PostgresAccountStore - an unreachable server rejects open with PARLEY_ERR_STORE_UNAVAILABLE', async () => {
  const dead = new URL(url);
  dead.port = '1'; // nothing listens on port 1
  await rejectsWith(openPostgresStores({ url: dead.toString(), schema }), 'PARLEY_ERR_STORE_UNAVAILABLE');
  await rejectsWith(migratePostgres(dead.toString(), { schema }), 'PARLEY_ERR_STORE_UNAVAILABLE');
});

test('PostgresAccountStore - connections terminated by the server mid-use: the pool reconnects and no error leaks', async () => {
  const applicationName = `parley-test-${runId}-terminate`;
  const backgroundErrors: Error[] = [];
  const stores = await openPostgresStores({ url, schema, poolSize: 4, applicationName, onBackgroundError: (e) => backgroundErrors.push(e) });
  try {
    const { accounts } = stores;
    const a = await accounts.createAccount();
    // fill the pool with idle connections, so every one of them gets killed
    await Promise.all(Array.from({ length: 8 }, () => accounts.getAccount(a.userId)));
    for (let round = 0; round < 3; round++) {
      const killed = await admin.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      assert.ok(killed.rowCount! > 0, 'the store had open connections to kill');
      // the very next calls, issued before the pool may have noticed anything
      assert.deepEqual(await accounts.getAccount(a.userId), a);
      await accounts.setLastSeen(a.userId, 1000 + round);
      const results = await Promise.all(Array.from({ length: 6 }, () => accounts.getLastSeen(a.userId)));
      assert.deepEqual(results, Array(6).fill(1000 + round));
      const { device } = await accounts.addDevice(a.userId, { identityKey: randomBytes(33), registrationId: round, name: `d${round}` });
      assert.equal(device.deviceId, round + 1);
    }
    const alive = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    assert.ok(alive.rowCount! > 0, 'the pool opened fresh connections');
    for (const e of backgroundErrors) assert.match(e.message, /terminat/i, 'only the expected terminations were reported');
  } finally {
    await stores.close();
  }
});

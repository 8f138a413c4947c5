import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { serviceSettings } from '../../scripts/services.ts';

test('postgres - the suite talks to a real PostgreSQL server', async () => {
  const client = new pg.Client({ connectionString: serviceSettings().pgUrl });
  await client.connect();
  try {
    const version = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    assert.ok(Number(version.rows[0]!.server_version_num) >= 120000, 'PostgreSQL 12 or newer');
    await client.query('CREATE TEMP TABLE smoke (id serial PRIMARY KEY, label text NOT NULL)');
    const inserted = await client.query<{ id: number }>('INSERT INTO smoke (label) VALUES ($1), ($2) RETURNING id', ['a', 'b']);
    assert.deepEqual(inserted.rows.map((r) => r.id), [1, 2]);
    const rows = await client.query<{ label: string }>('SELECT label FROM smoke WHERE id = $1', [2]);
    assert.equal(rows.rows[0]!.label, 'b');
  } finally {
    await client.end();
  }
});

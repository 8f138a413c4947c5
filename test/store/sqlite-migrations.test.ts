/** Embedded schema migrations and connection settings: history, idempotence, refusal of unknown versions, rollback. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { isStoreError } from '../../store/errors.ts';
import { EMBEDDED_MIGRATIONS, migrate, openEmbeddedStores } from '../../store/embedded/index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-sqlite-migrations-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const nextFile = () => path.join(dir, `m-${++seq}.db`);

function history(file: string): { version: number; name: string; applied_at: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as {
      version: number;
      name: string;
      applied_at: number;
    }[];
  } finally {
    db.close();
  }
}

test('SqliteMigrations - a fresh database records every migration once, and reopening applies nothing', async () => {
  const file = nextFile();
  await (await openEmbeddedStores({ path: file, now: () => 111 })).close();
  const first = history(file);
  assert.deepEqual(first, EMBEDDED_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: 111 })));
  await (await openEmbeddedStores({ path: file, now: () => 222 })).close();
  assert.deepEqual(history(file), first);
});

test('SqliteMigrations - a database with an unknown (newer) version is refused with PARLEY_ERR_STORE_SCHEMA', async () => {
  const file = nextFile();
  await (await openEmbeddedStores({ path: file })).close();
  const raw = new Database(file);
  raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('from the future');
  raw.close();
  await assert.rejects(openEmbeddedStores({ path: file }), (err: unknown) => {
    assert.ok(isStoreError(err, 'PARLEY_ERR_STORE_SCHEMA'));
    assert.deepEqual(err.details?.['unknown'], [999]);
    return true;
  });
});

test('SqliteMigrations - a failing migration leaves no trace of itself', () => {
  const db = new Database(':memory:');
  try {
    assert.deepEqual(migrate(db, EMBEDDED_MIGRATIONS, 1), EMBEDDED_MIGRATIONS.map((m) => m.version));
    const broken = { version: 1000, name: 'broken', sql: 'CREATE TABLE half_done (a); INSERT INTO no_such_table VALUES (1);' };
    assert.throws(() => migrate(db, [...EMBEDDED_MIGRATIONS, broken], 2), (err: unknown) => isStoreError(err, 'PARLEY_ERR_STORE_SCHEMA'));
    assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half_done'").get() as { n: number }).n, 0);
    assert.equal((db.prepare('SELECT count(*) AS n FROM schema_migrations WHERE version = 1000').get() as { n: number }).n, 0);
  } finally {
    db.close();
  }
});

test('SqliteMigrations - a file database is left in WAL mode', async () => {
  const file = nextFile();
  await (await openEmbeddedStores({ path: file })).close();
  const db = new Database(file);
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  } finally {
    db.close();
  }
});

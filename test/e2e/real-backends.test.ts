/**
 * The chat on the at-scale backends: a node with PARLEY_PG_URL (accounts,
 * devices, pre-keys) and PARLEY_CASSANDRA_CONTACT_POINTS (inbox) set, each
 * test with a fresh PostgreSQL schema and Cassandra keyspace. Real SDK
 * clients exchange end-to-end encrypted messages with unique plaintext
 * markers; then every PostgreSQL table and every Cassandra table is dumped
 * and searched for them (the server-blind proof extended to these stores).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';
import pg from 'pg';
import { Redis } from 'ioredis';
import { ReceiptStatus } from '../../protocol/index.ts';
import { serviceSettings } from '../../scripts/services.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';
import { freshBackends, type FreshBackends } from '../support/backends.ts';
import { loginClient, registerClient, startTestNode, take } from '../support/test-node.ts';
import { secureClients } from '../client/support/secure-clients.ts';

const pgUrl = serviceSettings().pgUrl;
const cass = cassandraSettings();

function nodeConfig(b: FreshBackends) {
  return {
    pgUrl, pgSchema: b.schema, cassandraContactPoints: cass.contactPoint, cassandraKeyspace: b.keyspace, cassandraLocalDataCenter: cass.localDataCenter,
    redisUrl: serviceSettings().redisUrl,
  };
}

const text = (s: string) => new TextEncoder().encode(s);

test('real backends - messaging with receipts and offline delivery on PostgreSQL + Cassandra', async () => {
  const b = freshBackends('parley_e2e');
  const t = await startTestNode({ config: nodeConfig(b) });
  try {
    assert.ok(t.logs.some((l) => l.includes('"event":"node.stores"') && l.includes('"accounts":"postgres"') && l.includes('"inbox":"cassandra"')));
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const first = await alice.client.send(bob.credentials.userId, text('over cassandra'));
    const [m] = await take(bob.client.messages(), 1);
    assert.equal(m!.messageId, first.messageId);
    m!.ack();
    await bob.client.close();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await alice.client.send(bob.credentials.userId, text(`offline ${i}`))).messageId);
    const bob2 = await loginClient(t.url, bob.identity, bob.registrationId, bob.credentials);
    const late = await take(bob2.messages(), 30);
    assert.deepEqual(late.map((x) => x.messageId), ids, 'in order, once each');
    for (const x of late) x.ack();
    let delivered = 0;
    for await (const r of alice.client.receipts()) {
      assert.equal(r.status, ReceiptStatus.Delivered);
      delivered += r.messageIds.length;
      if (delivered >= 31) break;
    }
    assert.equal(delivered, 31);
  } finally {
    await t.stop();
    await b.drop();
  }
});

test('real backends - server-blind: no plaintext marker in any PostgreSQL or Cassandra table, nor in Redis', async () => {
  const b = freshBackends('parley_e2e');
  const t = await startTestNode({ config: nodeConfig(b) });
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    const markers: string[] = [];
    const marker = () => {
      const m = `PLAINTEXT-${randomBytes(10).toString('hex')}`;
      markers.push(m);
      return m;
    };
    for (let i = 0; i < 3; i++) await alice.sendText(bob.device.userId, `hi ${marker()}`);
    for (const x of await take(bob.messages(), 3)) x.ack();
    await bob.close();
    for (let i = 0; i < 3; i++) await alice.sendText(bob.device.userId, `stored ${marker()}`); // stays in Cassandra
    const control = `CONTROL-${randomBytes(10).toString('hex')}`;
    const legacy = await registerClient(t.url);
    await legacy.client.send(bob.device.userId, Buffer.from(`opaque ${control}`)); // the server is given this one as is

    // Dump everything both stores hold for this node.
    const dump: Buffer[] = [];
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    const tables = await admin.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [b.schema]);
    assert.ok(tables.rows.length >= 4, 'users, devices, pre-key tables, migrations');
    for (const { table_name } of tables.rows) {
      const rows = await admin.query(`SELECT * FROM "${b.schema}"."${table_name}"`);
      for (const row of rows.rows) for (const v of Object.values(row)) dump.push(Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
    }
    await admin.end();
    const c = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter });
    const cqlTables = await c.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [b.keyspace], { prepare: true });
    assert.ok(cqlTables.rows.length >= 2, 'inbox and dedup tables');
    for (const row of cqlTables.rows) {
      const rs = await c.execute(`SELECT * FROM ${b.keyspace}.${row['table_name'] as string}`);
      for (const r of rs.rows) for (const k of r.keys()) { const v = r.get(k); dump.push(Buffer.isBuffer(v) ? v : Buffer.from(String(v))); }
    }
    await c.shutdown();
    await t.node.chat.services.presence!.flush(); // the heartbeat's queued touches, written now
    const redis = new Redis(serviceSettings().redisUrl);
    const keys = await redis.keys('parley:*');
    assert.ok(keys.some((k) => k.includes(alice.device.userId)), 'presence keys of this run are there (ids only)');
    for (const k of keys) {
      dump.push(Buffer.from(k));
      const type = await redis.type(k);
      if (type === 'string') dump.push((await redis.getBuffer(k)) ?? Buffer.alloc(0));
    }
    redis.disconnect();
    const haystack = Buffer.concat(dump);
    for (const m of markers) {
      for (const enc of [Buffer.from(m), Buffer.from(m, 'utf16le'), Buffer.from(Buffer.from(m).toString('base64'))]) {
        assert.equal(haystack.includes(enc), false, `marker ${m} found in a backend`);
      }
    }
    assert.equal(haystack.includes(Buffer.from(control)), true, 'the search finds what the server was given in plaintext (control)');
  } finally {
    await sdk.closeAll();
    await t.stop();
    await b.drop();
  }
});

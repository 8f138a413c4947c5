/**
 * Smoke test of the Cassandra test node: a client can create a keyspace and a
 * table, write through a prepared statement and read the row back.
 *
 * Uses the node on PARLEY_CASSANDRA_HOST:PORT (default 127.0.0.1:9042); if none
 * answers, ensureCassandra() starts one for this file and stops it afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import cassandra from 'cassandra-driver';
import { cassandraSettings, ensureCassandra, type CassandraHandle } from '../../scripts/cassandra.ts';

describe('cassandra smoke', () => {
  let node: CassandraHandle | undefined;
  let client: cassandra.Client | undefined;
  // Unique per run, so reruns against a long-lived detached node never collide.
  const keyspace = `smoke_${randomUUID().replaceAll('-', '')}`;

  before(async () => {
    node = await ensureCassandra();
    client = new cassandra.Client({
      contactPoints: [node.contactPoint],
      localDataCenter: cassandraSettings().localDataCenter,
    });
    await client.connect();
  });

  after(async () => {
    if (client !== undefined) {
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      await client.shutdown();
    }
    await node?.stop();
  });

  test('cassandra - a row inserted with a prepared statement reads back with the same values', async () => {
    assert.ok(client);
    await client.execute(
      `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    );
    await client.execute(
      `CREATE TABLE ${keyspace}.inbox (recipient_id text, msg_id timeuuid, body blob, PRIMARY KEY (recipient_id, msg_id))`,
    );

    const msgId = cassandra.types.TimeUuid.now();
    const body = Buffer.from([0x00, 0xff, 0x10, 0x42]);
    await client.execute(
      `INSERT INTO ${keyspace}.inbox (recipient_id, msg_id, body) VALUES (?, ?, ?)`,
      ['alice', msgId, body],
      { prepare: true },
    );

    const rs = await client.execute(
      `SELECT msg_id, body FROM ${keyspace}.inbox WHERE recipient_id = ?`,
      ['alice'],
      { prepare: true },
    );
    assert.equal(rs.rowLength, 1);
    const row = rs.first();
    assert.equal(row.get('msg_id').toString(), msgId.toString());
    assert.deepEqual(row.get('body'), body);

    const other = await client.execute(
      `SELECT msg_id FROM ${keyspace}.inbox WHERE recipient_id = ?`,
      ['bob'],
      { prepare: true },
    );
    assert.equal(other.rowLength, 0, 'a partition nobody wrote to is empty');
  });

  test('cassandra - a dropped keyspace is gone from the schema', async () => {
    assert.ok(client);
    const dropped = `${keyspace}_dropped`;
    await client.execute(
      `CREATE KEYSPACE ${dropped} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    );
    const present = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [dropped], {
      prepare: true,
    });
    assert.equal(present.rowLength, 1);

    await client.execute(`DROP KEYSPACE ${dropped}`);
    const gone = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [dropped], {
      prepare: true,
    });
    assert.equal(gone.rowLength, 0);
  });
});

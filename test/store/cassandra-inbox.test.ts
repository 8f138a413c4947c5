/**
 * CassandraInboxStore against the InboxStore contract, plus what only this
 * backend has: day buckets (driven by an injected clock), the per-device
 * sequencer (commit order under concurrency, floors across restarts), the id
 * encoding, migrations, and unavailability mapped to a retryable error.
 *
 * Uses the node on PARLEY_CASSANDRA_CONTACT_POINTS (npm test starts one), or
 * ensureCassandra() starts one for this file. Each run migrates a fresh
 * keyspace `parley_test_<random>` and drops it at the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import cassandra from 'cassandra-driver';
import { isStoreError } from '../../store/errors.ts';
import { CASSANDRA_MIGRATIONS, migrateCassandra, type CassandraInboxOptions } from '../../store/cassandra/index.ts';
import { idOfTimeuuid, ticksOfMs, encodeInboxId, randomIdTail, timeuuidOfId } from '../../store/cassandra/inbox-id.ts';
import { INBOX_CURSOR_START, type InboxStore } from '../../store/types.ts';
import { batch, device, newUserId, rejectsWith } from './contracts/helpers.ts';
import { inboxContract } from './contracts/inbox-contract.ts';
import { TcpProxy } from './fixtures/tcp-proxy.ts';
import { useTestKeyspace } from './fixtures/cassandra-keyspace.ts';

const db = useTestKeyspace();
const { keyspace, localDataCenter } = db;
const open = db.open;

inboxContract(
  'CassandraInboxStore',
  async ({ retention }) => {
    const c = await open({ retention });
    return { inbox: c.inbox, close: () => c.close() };
  },
  { clockDrivenExpiry: false, reusedKeyWithoutResend: 'stored-again' },
);

async function withInbox(body: (inbox: InboxStore) => Promise<void>, extra: Partial<CassandraInboxOptions> = {}): Promise<void> {
  const c = await open(extra);
  try {
    await body(c.inbox);
  } finally {
    await c.close();
  }
}

test('CassandraInboxStore - ids are 32 hex digits whose string order is timeuuid time order, and round-trip', () => {
  const tail = randomIdTail();
  const ids = [0, 1, 999, 1_700_000_000_000, 1_700_000_000_001, 4_000_000_000_000].map((ms) => encodeInboxId(ticksOfMs(ms), tail));
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{32}$/);
    const uuid = timeuuidOfId(id);
    assert.equal(uuid[14], '1', 'version 1 (time-based)');
    assert.equal(idOfTimeuuid(uuid), id);
  }
  assert.deepEqual([...ids].sort(), ids);
  const dates = ids.map((id) => cassandra.types.TimeUuid.fromString(timeuuidOfId(id)).getDate().getTime());
  assert.deepEqual(dates, [0, 1, 999, 1_700_000_000_000, 1_700_000_000_001, 4_000_000_000_000]);
});

test('CassandraInboxStore - entries spread over day buckets read, page, count and ack as one queue', async () => {
  let now = Date.UTC(2024, 0, 1, 23, 59, 59);
  await withInbox(
    async (inbox) => {
      const r = device(newUserId(), 1);
      const s = device(newUserId(), 1);
      const ids: string[] = [];
      for (let day = 0; day < 4; day++) {
        for (let i = 0; i < 3; i++) ids.push((await inbox.append(batch(s, `d${day}m${i}`, [r]))).copies[0]!.id);
        now += 86_400_000; // the next three land in the next bucket
      }
      assert.deepEqual([...ids].sort(), ids);
      assert.deepEqual((await inbox.read(r, INBOX_CURSOR_START, 100)).map((e) => e.id), ids, 'one queue across four buckets');
      assert.deepEqual((await inbox.read(r, ids[1]!, 4)).map((e) => e.id), ids.slice(2, 6), 'a page spans a bucket boundary');
      assert.equal(await inbox.count(r), 12);
      await inbox.ack(r, ids[7]!); // covers buckets 0, 1 and part of 2
      assert.equal(await inbox.count(r), 4);
      assert.deepEqual((await inbox.read(r, INBOX_CURSOR_START, 100)).map((e) => e.id), ids.slice(8));
      assert.deepEqual((await inbox.read(r, ids[2]!, 100)).map((e) => e.id), ids.slice(8), 'an old client cursor starts at the ack');
      await inbox.ack(r, ids[11]!);
      assert.equal(await inbox.count(r), 0);
    },
    { now: () => now },
  );
});

test('CassandraInboxStore - a restarted (or new owner) store whose clock is behind still mints larger ids', async () => {
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const ahead = Date.UTC(2030, 0, 1);
  let last = '';
  await withInbox(async (inbox) => {
    for (let i = 0; i < 3; i++) last = (await inbox.append(batch(s, `a${i}`, [r]))).copies[0]!.id;
  }, { now: () => ahead });
  await withInbox(async (inbox) => {
    const next = (await inbox.append(batch(s, 'b0', [r]))).copies[0]!.id;
    assert.ok(next > last, `${next} > ${last}`);
    assert.deepEqual((await inbox.read(r, last, 10)).map((e) => e.clientMessageId), ['b0']);
    await inbox.ack(r, next);
  }, { now: () => ahead - 3_600_000 });
  await withInbox(async (inbox) => {
    const after = (await inbox.append(batch(s, 'c0', [r]))).copies[0]!.id;
    assert.deepEqual((await inbox.read(r, INBOX_CURSOR_START, 10)).map((e) => e.id), [after], 'the new entry is above the acked cursor');
  }, { now: () => ahead - 7_200_000 });
});

test('CassandraInboxStore - concurrent multi-device batches in any device order commit in id order per device', () =>
  withInbox(async (inbox) => {
    const u = newUserId();
    const devices = [device(u, 1), device(u, 2), device(u, 3)];
    const resolvedOrder = new Map<string, string[]>(devices.map((d) => [`${d.deviceId}`, []]));
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const rotated = [...devices.slice(i % 3), ...devices.slice(0, i % 3)];
        const recipients = i % 2 === 0 ? rotated : rotated.reverse();
        return inbox.append(batch(device(newUserId(), 1), `x${i}`, recipients)).then((res) => {
          for (const c of res.copies) resolvedOrder.get(`${c.recipient.deviceId}`)!.push(c.id);
        });
      }),
    );
    for (const d of devices) {
      const order = resolvedOrder.get(`${d.deviceId}`)!;
      assert.equal(order.length, 60);
      assert.deepEqual(order, [...order].sort(), `device ${d.deviceId}: appends settle in id order`);
      assert.deepEqual((await inbox.read(d, INBOX_CURSOR_START, 100)).map((e) => e.id), order);
    }
  }));

test('CassandraInboxStore - concurrent retries of one send store it once (unflagged: the in-flight join, not a lookup)', () =>
  withInbox(async (inbox) => {
    const sender = device(newUserId(), 1);
    const recipients = [device(newUserId(), 1), device(newUserId(), 2)];
    const results = await Promise.all(Array.from({ length: 6 }, () => inbox.append(batch(sender, 'same', recipients))));
    assert.equal(results.filter((r) => !r.duplicate).length, 1);
    for (const r of results) assert.deepEqual(r.copies, results[0]!.copies);
    for (const d of recipients) assert.equal(await inbox.count(d), 1);
  }));

test('CassandraInboxStore - migrations record their history; a keyspace from newer code refuses to open', async () => {
  const ks = `${keyspace}_newer`;
  db.dropAlso(ks);
  const applied = await migrateCassandra({ contactPoints: [db.contactPoint], localDataCenter, keyspace: ks });
  assert.deepEqual(applied, CASSANDRA_MIGRATIONS.map((m) => m.version));
  assert.deepEqual(await migrateCassandra({ contactPoints: [db.contactPoint], localDataCenter, keyspace: ks }), []);
  const client = new cassandra.Client({ contactPoints: [db.contactPoint], localDataCenter });
  try {
    await client.execute(`INSERT INTO ${ks}.schema_migrations (version, name, applied_at) VALUES (999, 'future', toTimestamp(now()))`);
  } finally {
    await client.shutdown();
  }
  await rejectsWith(db.open({ keyspace: ks }), 'PARLEY_ERR_STORE_SCHEMA');
});

test('CassandraInboxStore - nothing listening: open rejects PARLEY_ERR_STORE_UNAVAILABLE', async () => {
  const proxy = new TcpProxy('127.0.0.1', 1);
  const port = await proxy.start();
  await proxy.stop(); // a port that was free a moment ago and now refuses
  await rejectsWith(open({ contactPoints: [`127.0.0.1:${port}`] }), 'PARLEY_ERR_STORE_UNAVAILABLE');
});

/*
 * Recovery is checked with a fresh client: cassandra-driver 4.10 recovers by
 * itself once the node is back (seen in manual runs), but a client that went
 * through a full control-connection reset and is then shut down can leave a
 * host pool reconnecting forever (a driver race), which would keep the test
 * process alive. The same-client recovery belongs in a soak run, not here.
 */
test('CassandraInboxStore - Cassandra unreachable mid-use: retryable PARLEY_ERR_STORE_UNAVAILABLE; the failed append stored nothing', async () => {
  const [host, port] = db.contactPoint.split(':') as [string, string];
  const proxy = new TcpProxy(host, Number(port));
  const proxyPort = await proxy.start();
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const c = await open({ contactPoints: [`127.0.0.1:${proxyPort}`] });
  let first;
  try {
    first = await c.inbox.append(batch(s, 'before', [r]));
    await proxy.cut();
    for (const attempt of [c.inbox.append(batch(s, 'during', [r])), c.inbox.read(r, INBOX_CURSOR_START, 10), c.inbox.count(r), c.inbox.ack(r, first.copies[0]!.id)]) {
      await assert.rejects(attempt, (err: unknown) => {
        assert.ok(isStoreError(err, 'PARLEY_ERR_STORE_UNAVAILABLE'), `got ${String(err)}`);
        assert.equal(err.retryable, true);
        return true;
      });
    }
  } finally {
    await c.close();
    await proxy.stop();
  }
  const again = await open();
  try {
    const retried = await again.inbox.append(batch(s, 'during', [r], { resend: true }));
    assert.equal(retried.duplicate, false, 'the failed attempt left no dedup key');
    assert.deepEqual((await again.inbox.read(r, INBOX_CURSOR_START, 10)).map((e) => e.clientMessageId), ['before', 'during']);
  } finally {
    await again.close();
  }
});

/**
 * CassandraInboxStore's write batching (store/cassandra/write-coalescer.ts)
 * against a real node: the rows of concurrent appends share UNLOGGED batch
 * requests, every batch stays under the byte cap (the server refuses one
 * above 50 KiB), the default caps draw no server warning, and a batch whose
 * outcome is unknown fails every append in it retryably with nothing left
 * visible.
 *
 * Requests are counted by wrapping the client's execute/batch (as
 * bench/cluster-chat/cql-count.mjs does). Uses the node on
 * PARLEY_CASSANDRA_CONTACT_POINTS, or ensureCassandra() starts one for this
 * file; a fresh keyspace `parley_test_<random>`, dropped at the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import cassandra from 'cassandra-driver';
import { isStoreError } from '../../store/errors.ts';
import { INBOX_CURSOR_START, type AppendResult, type DeviceAddress, type InboxStore } from '../../store/types.ts';
import { assertBytes, batch, device, newUserId } from './contracts/helpers.ts';
import { CqlFrameProxy } from './fixtures/cql-frame-proxy.ts';
import { useTestKeyspace } from './fixtures/cassandra-keyspace.ts';

const db = useTestKeyspace();

interface WriteRequests {
  /** INSERT requests and batch requests sent. */
  requests: number;
  /** INSERT statements, alone or in batches. */
  statements: number;
  /** Per batch request: its statements and the blob bytes it carried. */
  readonly batches: Array<{ rows: number; blobBytes: number }>;
  /** Blob bytes of each INSERT sent alone. */
  readonly alone: number[];
}

/** Wraps the client's execute and batch to count the writes the store sends. */
function countWrites(client: cassandra.Client): WriteRequests {
  const count: WriteRequests = { requests: 0, statements: 0, batches: [], alone: [] };
  const execute = client.execute.bind(client) as (query: string, params?: unknown, options?: unknown) => Promise<cassandra.types.ResultSet>;
  const runBatch = client.batch.bind(client) as (queries: Array<{ query: string; params: unknown[] }>, options?: unknown) => Promise<cassandra.types.ResultSet>;
  const blobBytes = (params: unknown): number => (Array.isArray(params) ? params.reduce<number>((n, p) => n + (Buffer.isBuffer(p) ? p.length : 0), 0) : 0);
  Object.assign(client, {
    execute: (query: string, params?: unknown, options?: unknown) => {
      if (/^\s*INSERT/i.test(query)) {
        count.requests++;
        count.statements++;
        count.alone.push(blobBytes(params));
      }
      return execute(query, params, options);
    },
    batch: (queries: Array<{ query: string; params: unknown[] }>, options?: unknown) => {
      count.requests++;
      count.statements += queries.length;
      count.batches.push({ rows: queries.length, blobBytes: queries.reduce((n, q) => n + blobBytes(q.params), 0) });
      return runBatch(queries, options);
    },
  });
  return count;
}

/** Every entry of `d` from the start (at most 1,000). */
function readAll(inbox: InboxStore, d: DeviceAddress) {
  return inbox.read(d, INBOX_CURSOR_START, 1000);
}

const filled = (size: number, seed: number) => (i: number) => new Uint8Array(size).fill((seed + i) % 251);

test('CassandraInboxStore write batching - concurrent appends to many devices are each stored once, in id order per device, in fewer requests than rows', async () => {
  const c = await db.open();
  try {
    const writes = countWrites(c.client);
    const users = Array.from({ length: 30 }, newUserId);
    const senders = Array.from({ length: 20 }, () => device(newUserId(), 1));
    const sends = Array.from({ length: 200 }, (_, i) => ({
      sender: senders[i % senders.length]!,
      clientMessageId: `w${i}`,
      recipients: [device(users[i % users.length]!, 1), device(users[i % users.length]!, 2)],
    }));
    const results: AppendResult[] = await Promise.all(sends.map((s) => c.inbox.append(batch(s.sender, s.clientMessageId, s.recipients))));

    const returnedIds = new Map<string, string[]>();
    results.forEach((r, i) => {
      assert.equal(r.duplicate, false);
      for (const copy of r.copies) {
        const key = `${copy.recipient.userId}:${copy.recipient.deviceId}`;
        returnedIds.set(key, [...(returnedIds.get(key) ?? []), copy.id]);
      }
      assert.equal(r.copies.length, 2, `send ${i}`);
    });
    for (const [u, userId] of users.entries()) {
      const expected = sends.filter((_, i) => i % users.length === u).map((s) => s.clientMessageId);
      for (const deviceId of [1, 2]) {
        const d = device(userId, deviceId);
        const entries = await readAll(c.inbox, d);
        const ids = entries.map((e) => e.id);
        assert.deepEqual(ids, [...new Set(ids)].sort(), 'ids strictly increase in read order');
        assert.deepEqual(ids, [...returnedIds.get(`${userId}:${deviceId}`)!].sort(), 'exactly the ids the appends returned');
        assert.deepEqual(entries.map((e) => e.clientMessageId).sort(), [...expected].sort(), 'each send exactly once');
        for (const e of entries) assertBytes(e.payload, new TextEncoder().encode(`${e.clientMessageId}#${deviceId - 1}`));
      }
    }
    // 400 copies, 60 first-bucket rows, 200 dedup rows
    assert.equal(writes.statements, 660);
    assert.ok(writes.batches.length > 0, 'rows went out in batches');
    assert.ok(writes.requests * 2 <= writes.statements, `${writes.requests} requests for ${writes.statements} rows`);
    assert.ok(writes.batches.every((b) => b.rows <= 10), 'no batch above the default 10 rows');
  } finally {
    await c.close();
  }
});

test('CassandraInboxStore write batching - rows too big to share a batch under the byte cap are split, and all stored (one batch would exceed the server\'s 50 KiB)', async () => {
  const maxBytes = 40 * 1024;
  const c = await db.open({ writeBatch: { maxRows: 32, maxBytes } });
  try {
    const writes = countWrites(c.client);
    const recipients = Array.from({ length: 6 }, () => device(newUserId(), 1));
    const sender = device(newUserId(), 1);
    // one small append each first: device state loaded and bucket row written, so the big ones reach the write step in one turn
    await Promise.all(recipients.map((r, i) => c.inbox.append(batch(sender, `warm${i}`, [r]))));
    const [batchesBefore, aloneBefore] = [writes.batches.length, writes.alone.length];
    const big = 15 * 1024;
    await Promise.all(recipients.map((r, i) => c.inbox.append(batch(sender, `big${i}`, [r], { payload: filled(big, i) }))));
    const bigBatches = writes.batches.slice(batchesBefore).filter((b) => b.blobBytes > 0);
    const bigAlone = writes.alone.slice(aloneBefore).filter((n) => n > 0);
    assert.equal(bigBatches.reduce((n, b) => n + b.rows, 0) + bigAlone.length, 6, 'six copies written');
    assert.ok(bigBatches.length + bigAlone.length >= 3, `6 × 15 KiB went out in ${bigBatches.length + bigAlone.length} requests`);
    assert.ok(bigBatches.every((b) => b.blobBytes <= maxBytes), 'every batch under the byte cap');
    assert.ok(bigBatches.some((b) => b.rows >= 2), 'rows that fit together still share a batch');
    for (const [i, r] of recipients.entries()) {
      const entries = await readAll(c.inbox, r);
      assert.deepEqual(entries.map((e) => e.clientMessageId), [`warm${i}`, `big${i}`]);
      assertBytes(entries[1]!.payload, filled(big, i)(0));
    }
  } finally {
    await c.close();
  }

  // without the byte cap the same appends make one batch, which the server refuses: the cap is what keeps them apart
  const uncapped = await db.open({ writeBatch: { maxRows: 32, maxBytes: 1 << 20 } });
  try {
    const recipients = Array.from({ length: 6 }, () => device(newUserId(), 1));
    const sender = device(newUserId(), 1);
    await Promise.all(recipients.map((r, i) => uncapped.inbox.append(batch(sender, `warm${i}`, [r]))));
    const outcomes = await Promise.allSettled(recipients.map((r, i) => uncapped.inbox.append(batch(sender, `big${i}`, [r], { payload: filled(15 * 1024, i) }))));
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      assert.match(String((o as PromiseRejectedResult).reason), /Batch too large/);
    }
    for (const r of recipients) assert.deepEqual((await readAll(uncapped.inbox, r)).map((e) => e.clientMessageId).length, 1, 'only the warm-up entry');
  } finally {
    await uncapped.close();
  }
});

test('CassandraInboxStore write batching - default caps: a row above 5 KiB goes alone, small rows share batches, and the server warns about none', async () => {
  const c = await db.open();
  const warnings: string[] = [];
  c.client.on('log', (level: string, _className: string, message: string) => {
    if (level === 'warning' && /Batch for|Unlogged batch/i.test(message)) warnings.push(message);
  });
  try {
    const writes = countWrites(c.client);
    const sender = device(newUserId(), 1);
    const recipients = Array.from({ length: 24 }, () => device(newUserId(), 1));
    // fresh devices (bucket rows too), payloads 0..1.5 KiB so batches end on bytes as well as rows
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        recipients.map((r, i) => c.inbox.append(batch(sender, `r${round}-${i}`, [r], { payload: filled(((i * 389 + round * 97) % 1536), i) }))),
      );
    }
    const before = writes.alone.length;
    const big = 30 * 1024;
    await Promise.all(recipients.slice(0, 4).map((r, i) => c.inbox.append(batch(sender, `big${i}`, [r], { payload: filled(big, i) }))));
    assert.equal(writes.alone.slice(before).filter((n) => n === big).length, 4, 'each 30 KiB copy went alone');
    assert.ok(writes.batches.some((b) => b.blobBytes >= 3 * 1024), 'some batches came close to the 5 KiB threshold');
    assert.ok(writes.batches.every((b) => b.rows <= 10 && b.blobBytes <= 5 * 1024));
    for (const [i, r] of recipients.entries()) {
      const got = (await readAll(c.inbox, r)).map((e) => e.clientMessageId);
      assert.deepEqual(got, [`r0-${i}`, `r1-${i}`, `r2-${i}`, ...(i < 4 ? [`big${i}`] : [])]);
    }
    assert.deepEqual(warnings, [], 'no batch warning from the server');
  } finally {
    await c.close();
  }
});

test('CassandraInboxStore write batching - a batch whose response is lost fails every append in it retryably, and compensation leaves nothing visible', async () => {
  const [host, port] = db.contactPoint.split(':') as [string, string];
  const proxy = new CqlFrameProxy(host, Number(port));
  const proxyPort = await proxy.start();
  const c = await db.open({ contactPoints: [`127.0.0.1:${proxyPort}`], readTimeoutMs: 1500 });
  try {
    const writes = countWrites(c.client);
    const recipients = Array.from({ length: 6 }, () => device(newUserId(), 1));
    const senders = recipients.map(() => device(newUserId(), 1));
    await Promise.all(recipients.map((r, i) => c.inbox.append(batch(senders[i]!, 'first', [r]))));

    proxy.dropBatchResponses = true;
    const batchesBefore = writes.batches.length;
    const outcomes = await Promise.allSettled(recipients.map((r, i) => c.inbox.append(batch(senders[i]!, 'lost', [r]))));
    proxy.dropBatchResponses = false;

    assert.ok(writes.batches.length > batchesBefore, 'the copies went out batched');
    assert.ok(proxy.dropped.length > 0 && proxy.dropped.every((op) => op === 0x08), 'the server applied the batch (RESULT), the client never heard');
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      const err = (o as PromiseRejectedResult).reason as unknown;
      assert.ok(isStoreError(err, 'PARLEY_ERR_STORE_UNAVAILABLE'), `got ${String(err)}`);
      assert.equal(err.retryable, true);
    }
    for (const r of recipients) {
      assert.deepEqual((await readAll(c.inbox, r)).map((e) => e.clientMessageId), ['first'], 'the landed copies were deleted again');
    }
    // the retry (resend) finds no dedup key and stores each once
    const retried = await Promise.all(recipients.map((r, i) => c.inbox.append(batch(senders[i]!, 'lost', [r], { resend: true }))));
    assert.ok(retried.every((r) => !r.duplicate), 'no dedup row was written for the failed appends');
    for (const r of recipients) assert.deepEqual((await readAll(c.inbox, r)).map((e) => e.clientMessageId), ['first', 'lost']);
  } finally {
    await c.close();
    await proxy.stop();
  }
});

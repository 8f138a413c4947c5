/**
 * Cassandra unavailable for a while, at the node level: the node's inbox is
 * reached through a TCP proxy the test cuts and restores. During the outage
 * sends get the retryable PARLEY_ERR_STORE_UNAVAILABLE instead of `sent`;
 * the SDK resends them in order; once Cassandra is back every message that
 * got `sent` is delivered exactly once, in send order. And "delivered"
 * receipts of messages acked during the outage are not lost: the session
 * retries them, and if they still fail the acked messages stay in the inbox
 * and come back (with a new receipt) on the next connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import cassandra from 'cassandra-driver';
import { cassandraSettings } from '../../scripts/cassandra.ts';
import { TcpProxy } from '../store/fixtures/tcp-proxy.ts';
import { closeAllClients, registerClient, spawnNodeProcess, take, type NodeProcess } from '../support/test-node.ts';
import { ReceiptStatus } from '../../protocol/index.ts';

/**
 * A node process (embedded accounts) whose inbox is a fresh Cassandra keyspace
 * reached through a TCP proxy the test cuts and restores; all of it removed after.
 */
async function withOutageNode(body: (node: NodeProcess, proxy: TcpProxy) => Promise<void>): Promise<void> {
  const cass = cassandraSettings();
  const proxy = new TcpProxy(cass.host, cass.port);
  const proxyPort = await proxy.start();
  const keyspace = `parley_outage_${randomBytes(5).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-outage-'));
  const node = await spawnNodeProcess(dataDir, 0, {
    PARLEY_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxyPort}`, PARLEY_CASSANDRA_KEYSPACE: keyspace, PARLEY_CASSANDRA_LOCAL_DC: cass.localDataCenter,
  });
  try {
    await body(node, proxy);
  } finally {
    await closeAllClients();
    node.child.kill('SIGTERM');
    const timer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
    await node.exit;
    clearTimeout(timer);
    await proxy.stop();
    rmSync(dataDir, { recursive: true, force: true });
    const c = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter });
    await c.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await c.shutdown();
  }
}

test('cassandra outage - sends fail retryably while the inbox store is away, the SDK resends in order, each arrives once', async () => {
  await withOutageNode(async (node, proxy) => {
    const alice = await registerClient(node.url);
    const bob = await registerClient(node.url);
    const text = (i: number) => new TextEncoder().encode(`outage ${i}`);
    for (let i = 0; i < 5; i++) await alice.client.send(bob.credentials.userId, text(i), { messageId: `o${i}` });

    await proxy.cut();
    const retried = new Promise<{ code: string }>((resolve) => alice.client.once('retrying', resolve));
    let sentDuringOutage = 0;
    const sends = Array.from({ length: 15 }, (_, k) => {
      const i = k + 5;
      return alice.client.send(bob.credentials.userId, text(i), { messageId: `o${i}` }).then((r) => {
        if (!restored) sentDuringOutage++;
        return r;
      });
    });
    let restored = false;
    const first = await retried;
    assert.equal(first.code, 'PARLEY_ERR_STORE_UNAVAILABLE', 'a clear retryable error instead of sent');
    restored = true;
    await proxy.restore();
    await Promise.all(sends);
    assert.equal(sentDuringOutage, 0, 'nothing was confirmed while the store was away');

    const got: string[] = [];
    for await (const m of bob.client.messages()) {
      got.push(m.messageId);
      m.ack();
      if (got.length === 20) break;
    }
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `o${i}`), 'every message once, in send order');
  });
});

test('cassandra outage - delivered receipts of messages acked while the inbox store is away reach the sender afterwards', { timeout: 120_000 }, async () => {
  await withOutageNode(async (node, proxy) => {
    const alice = await registerClient(node.url);
    const bob = await registerClient(node.url);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await alice.client.send(bob.credentials.userId, new TextEncoder().encode(`r${i}`))).messageId);
    const got = await take(bob.client.messages(), 5);
    await proxy.cut();
    for (const m of got) m.ack(); // the receipts are stored after this: the store is away
    await node.waitForOutput((out) => out.includes('"event":"session.receipt_retry"'));
    await proxy.restore();
    // Whether a retry got through or the session gave up (then the messages come back on the
    // next connection and are acked again), every message's receipt reaches alice.
    bob.client.dropConnection();
    const receipted = new Set<string>();
    for await (const r of alice.client.receipts()) {
      assert.equal(r.status, ReceiptStatus.Delivered);
      for (const id of r.messageIds) receipted.add(id);
      if (ids.every((id) => receipted.has(id))) break;
    }
    assert.deepEqual([...receipted].filter((id) => ids.includes(id)).sort(), [...ids].sort());
  });
});

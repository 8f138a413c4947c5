/**
 * Forwarding on a cluster (actors/session-forward.ts): a first transmission to
 * a device online in the cluster is handed to its session before it is
 * stored. Real `parley start --cluster` processes on NATS, PostgreSQL,
 * Cassandra and Redis; the store is inspected in Cassandra's `inbox_dedup`
 * (one row per stored send, by sender device and message id).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import cassandra from 'cassandra-driver';
import { once } from 'node:events';
import { ReceiptStatus } from '../../protocol/index.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';
import { forwardStatsIn, startChatCluster, type ChatClusterHandle, type ClusterMember } from '../support/chat-cluster.ts';
import type { ForwardStats } from '../../actors/session-forward.ts';
import { loginClient, registerClient } from '../support/test-node.ts';
import type { DeviceCredentials, IncomingMessage } from '../../client/index.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** The message ids of `sender` that have a row in the cluster's `inbox_dedup`, i.e. were stored. */
async function storedIds(cluster: ChatClusterHandle, sender: DeviceCredentials, ids: readonly string[]): Promise<string[]> {
  const cass = cassandraSettings();
  const c = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter, keyspace: cluster.backends.keyspace });
  try {
    const stored: string[] = [];
    for (const id of ids) {
      const r = await c.execute(
        'SELECT client_message_id FROM inbox_dedup WHERE sender_user = ? AND sender_device = ? AND client_message_id = ?',
        [sender.userId, sender.deviceId, id], { prepare: true },
      );
      if (r.rowLength > 0) stored.push(id);
    }
    return stored;
  } finally {
    await c.shutdown();
  }
}

/** Runs `body` on two fresh nodes whose forwards wait `forwardMs` (PARLEY_CLUSTER_FORWARD_MS), then stops them. */
async function withForwardCluster(forwardMs: string, body: (cluster: ChatClusterHandle) => Promise<void>): Promise<void> {
  const cluster = await startChatCluster(2, { env: { PARLEY_CLUSTER_FORWARD_MS: forwardMs } });
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

/** Stops `member` gracefully and returns the forward counters it logged then. */
async function stopForStats(member: ClusterMember): Promise<ForwardStats> {
  assert.equal(await member.stop(), 0, 'clean exit');
  const stats = forwardStatsIn(member.process.output());
  assert.ok(stats !== undefined, 'the node logged its forward counters when it stopped');
  return stats;
}

/**
 * The first message other than `acked` (a new client of a device may get an
 * entry again whose ack the old connection had not sent yet).
 */
async function firstOtherThan(messages: AsyncIterable<IncomingMessage>, acked: string): Promise<IncomingMessage> {
  for await (const m of messages) {
    if (m.messageId !== acked) return m;
    m.ack();
  }
  throw new Error('messages ended');
}

test('cluster forward - sends acked by a device on another node are never stored; order, receipts and sent as usual', { timeout: 120_000 }, async () => {
  // A long wait: no forward falls back to the store because the box was slow.
  await withForwardCluster('30000', async (cluster) => {
    const [n1, n2] = cluster.members as [typeof cluster.members[0], typeof cluster.members[0]];
    const alice = await registerClient(n1.url);
    const bob = await registerClient(n2.url);
    const inbox = bob.client.messages()[Symbol.asyncIterator]();
    const next = async () => {
      const r = await inbox.next();
      assert.ok(!r.done);
      r.value.ack();
      return r.value;
    };
    // The first send to a device is stored (the sender has nothing to chain a forward to).
    const first = await alice.client.send(bob.credentials.userId, text('m0'));
    assert.equal((await next()).messageId, first.messageId);
    // Then each send is forwarded; its `sent` comes once bob acked it.
    const ids = [first.messageId];
    for (let i = 1; i < 20; i++) {
      const sent = alice.client.send(bob.credentials.userId, text(`m${i}`));
      const got = await next();
      const { messageId } = await sent;
      assert.equal(got.messageId, messageId, 'delivered in send order');
      assert.deepEqual(new Uint8Array(got.ciphertext), text(`m${i}`));
      ids.push(messageId);
    }
    assert.deepEqual(await storedIds(cluster, alice.credentials, ids), [first.messageId], 'only the first send was written');
    // "delivered" receipts for all twenty reach alice on n1.
    const delivered = new Set<string>();
    for await (const r of alice.client.receipts()) {
      assert.equal(r.status, ReceiptStatus.Delivered);
      for (const id of r.messageIds) delivered.add(id);
      if (delivered.size >= ids.length) break;
    }
    assert.deepEqual([...delivered].sort(), [...ids].sort());
    // The counters tell the same: alice's 19 forwards acked, none lost; bob's session pushed them.
    await alice.client.close();
    await bob.client.close();
    const s1 = await stopForStats(n1);
    const s2 = await stopForStats(n2);
    assert.ok(s1.forwarded >= 19 && s1.acked >= 19, `n1 forwarded and acked ≥ 19: ${JSON.stringify(s1)}`);
    assert.equal(s1.lost + s1.refused, 0, `nothing lost or refused: ${JSON.stringify(s1)}`);
    assert.ok(s2.received >= 19 && s2.pushed >= 19, `n2 received and pushed ≥ 19: ${JSON.stringify(s2)}`);
    assert.equal(s2.refusedHere, 0, `n2 refused nothing: ${JSON.stringify(s2)}`);
  });
});

/**
 * alice on n1, bob on n2 (no reconnect), and a first message alice → bob
 * received and acked (a session's first send to a device is stored: the next
 * one is forwarded).
 */
async function aliceOnN1BobOnN2(cluster: ChatClusterHandle) {
  const [n1, n2] = cluster.members as [ClusterMember, ClusterMember];
  const alice = await registerClient(n1.url);
  const bob = await registerClient(n2.url, { reconnect: false });
  const inbox = bob.client.messages()[Symbol.asyncIterator]();
  const m0 = await alice.client.send(bob.credentials.userId, text('stored first'));
  const got0 = (await inbox.next()).value!;
  assert.equal(got0.messageId, m0.messageId);
  got0.ack();
  return { n1, n2, alice, bob, inbox, m0 };
}

test('cluster forward - a forward the device does not ack in time is stored, and comes again from the store after a reconnect', { timeout: 120_000 }, async () => {
  await withForwardCluster('300', async (cluster) => {
    const { n2, alice, bob, inbox, m0 } = await aliceOnN1BobOnN2(cluster);
    // Forwarded to bob, who never acks it: after the wait it is stored and alice gets `sent`.
    const sent = alice.client.send(bob.credentials.userId, text('not acked'));
    const got1 = (await inbox.next()).value!;
    const { messageId } = await sent;
    assert.equal(got1.messageId, messageId);
    assert.deepEqual(await storedIds(cluster, alice.credentials, [m0.messageId, messageId]), [m0.messageId, messageId]);
    // A new client of bob's device (nothing remembered) gets it from the store.
    await bob.client.close();
    const bob2 = await loginClient(n2.url, bob.identity, bob.registrationId, bob.credentials);
    const again = await firstOtherThan(bob2.messages(), m0.messageId);
    assert.equal(again.messageId, messageId);
    assert.deepEqual(new Uint8Array(again.ciphertext), text('not acked'));
    again.ack();
    await alice.client.close();
    await bob2.close();
    const s1 = await stopForStats(cluster.members[0]!);
    assert.ok(s1.forwarded >= 1 && s1.lost >= 1, `n1 counted the forward with no answer in time as lost: ${JSON.stringify(s1)}`);
  });
});

test('cluster forward - a takeover before the ack: the forward is stored at once and the new connection gets it', { timeout: 40_000 }, async () => {
  // With a 60 s wait, `sent` arriving within the test's timeout shows the old session refused the forward when it stopped.
  await withForwardCluster('60000', async (cluster) => {
    const { n1, alice, bob, inbox, m0 } = await aliceOnN1BobOnN2(cluster);
    const sent = alice.client.send(bob.credentials.userId, text('forwarded, then taken over'));
    const got1 = (await inbox.next()).value!;
    // bob's device logs in on n1: its session on n2 stops before the ack.
    const closed = once(bob.client, 'closed');
    const bob2 = await loginClient(n1.url, bob.identity, bob.registrationId, bob.credentials);
    await closed;
    const { messageId } = await sent;
    assert.equal(got1.messageId, messageId);
    const again = await firstOtherThan(bob2.messages(), m0.messageId);
    assert.equal(again.messageId, messageId);
    again.ack();
    assert.deepEqual(await storedIds(cluster, alice.credentials, [messageId]), [messageId]);
    const s2 = await stopForStats(cluster.members[1]!);
    assert.ok(s2.pushed >= 1 && s2.refusedHere >= 1, `n2 pushed the forward, then refused it at the takeover: ${JSON.stringify(s2)}`);
  });
});

/**
 * Chat across a cluster: three `parley start --cluster` processes on the real
 * NATS server, PostgreSQL, Cassandra and Redis, with real SDK clients spread
 * over them. 1:1 delivery with receipts and per-sender order across nodes,
 * one session per device in the whole cluster (a login on another node takes
 * over, the old socket is closed 4409).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ReceiptStatus } from '../../protocol/index.ts';
import { startChatCluster } from '../support/chat-cluster.ts';
import { loginClient, registerClient, take } from '../support/test-node.ts';

const text = (s: string) => new TextEncoder().encode(s);

test('cluster - 1:1 across three nodes: delivery, order from interleaved senders, delivered and read receipts', async () => {
  const cluster = await startChatCluster(3);
  try {
    const [n1, n2, n3] = cluster.members as [typeof cluster.members[0], typeof cluster.members[0], typeof cluster.members[0]];
    const alice = await registerClient(n1.url);
    const carol = await registerClient(n3.url);
    const bob = await registerClient(n2.url);
    // Two senders on two nodes write to bob at once: bob's inbox has two writers.
    const fromAlice: string[] = [];
    const fromCarol: string[] = [];
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      sends.push(alice.client.send(bob.credentials.userId, text(`a${i}`)).then((r) => { fromAlice[i] = r.messageId; }));
      sends.push(carol.client.send(bob.credentials.userId, text(`c${i}`)).then((r) => { fromCarol[i] = r.messageId; }));
    }
    await Promise.all(sends);
    const got = await take(bob.client.messages(), 200);
    for (const m of got) m.ack();
    const seenA = got.filter((m) => m.from === alice.credentials.userId).map((m) => m.messageId);
    const seenC = got.filter((m) => m.from === carol.credentials.userId).map((m) => m.messageId);
    assert.deepEqual(seenA, fromAlice, 'alice → bob in send order, once each');
    assert.deepEqual(seenC, fromCarol, 'carol → bob in send order, once each');
    // delivered receipts reach alice on n1 from bob's session on n2
    let delivered = 0;
    for await (const r of alice.client.receipts()) {
      assert.equal(r.status, ReceiptStatus.Delivered);
      delivered += r.messageIds.length;
      if (delivered >= 100) break;
    }
    assert.equal(delivered, 100);
    // read receipt
    await bob.client.markRead(alice.credentials.userId, [fromAlice[99]!]);
    const [read] = await take(alice.client.receipts(), 1);
    assert.equal(read!.status, ReceiptStatus.Read);
    assert.deepEqual(read!.messageIds, [fromAlice[99]]);
  } finally {
    await cluster.stop();
  }
});

test('cluster - one session per device: a login on another node takes over and the old socket is closed 4409', async () => {
  const cluster = await startChatCluster(2);
  try {
    const [n1, n2] = cluster.members as [typeof cluster.members[0], typeof cluster.members[0]];
    const alice = await registerClient(n1.url);
    const bob = await registerClient(n1.url, { reconnect: false });
    const closed = once(bob.client, 'closed');
    const bob2 = await loginClient(n2.url, bob.identity, bob.registrationId, bob.credentials);
    const [info] = (await closed) as [{ code: number }];
    assert.equal(info.code, 4409, 'old connection closed: connected elsewhere');
    // messages now reach the new session on n2, from a sender on n1
    const sent = await alice.client.send(bob.credentials.userId, text('after takeover'));
    const [m] = await take(bob2.messages(), 1);
    assert.equal(m!.messageId, sent.messageId);
    m!.ack();
  } finally {
    await cluster.stop();
  }
});

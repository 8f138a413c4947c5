/**
 * `kill -9` of a cluster node mid-traffic. Three `parley start --cluster`
 * processes on the real NATS server, PostgreSQL, Cassandra and Redis; every
 * client knows all gateways and moves to the next one when its node dies.
 * The killed node holds a receiver (bob: his session moves to another node)
 * and a sender (dave: his unconfirmed sends are resent there with the same
 * ids). Every message whose send resolved arrives exactly once, in order;
 * every send issued resolves in the end (retried), so none is silently lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChatCluster, type ClusterMember } from '../support/chat-cluster.ts';
import { registerClient } from '../support/test-node.ts';
import type { IncomingMessage, ParleyClient } from '../../client/index.ts';

const text = (s: string) => new TextEncoder().encode(s);
const PER_SENDER = 150;

/** Sends PER_SENDER messages in batches of 10; resolves with the message ids in send order. */
async function sendAll(client: ParleyClient, to: string, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let b = 0; b < PER_SENDER; b += 10) {
    const batch: Promise<{ messageId: string }>[] = [];
    for (let i = b; i < b + 10; i++) batch.push(client.send(to, text(`${tag}${i}`)));
    for (const r of await Promise.all(batch)) ids.push(r.messageId);
  }
  return ids;
}

/** Collects `n` messages from `sender`, acking each; calls `onCount` after each. */
async function receive(client: ParleyClient, sender: string, n: number, onCount: (k: number) => void): Promise<IncomingMessage[]> {
  const got: IncomingMessage[] = [];
  for await (const m of client.messages()) {
    m.ack();
    if (m.from !== sender) continue;
    got.push(m);
    onCount(got.length);
    if (got.length >= n) break;
  }
  return got;
}

test('cluster - kill -9 of a node mid-traffic: its clients move to the others, every sent message arrives exactly once, in order', { timeout: 180_000 }, async () => {
  const cluster = await startChatCluster(3);
  try {
    const [n1, n2, n3] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    const all = (first: ClusterMember) => [first.url, ...cluster.members.filter((m) => m !== first).map((m) => m.url)];
    const alice = await registerClient(all(n1));
    const bob = await registerClient([n2.url, n3.url, n1.url]);
    const dave = await registerClient([n2.url, n1.url, n3.url]);
    const carol = await registerClient(all(n3));

    let killed: Promise<void> | undefined;
    const killWhen = (k: number) => {
      if (k === 40 && killed === undefined) killed = n2.kill();
    };
    const bobGets = receive(bob.client, alice.credentials.userId, PER_SENDER, killWhen);
    const carolGets = receive(carol.client, dave.credentials.userId, PER_SENDER, () => {});
    const [aliceSent, daveSent] = await Promise.all([
      sendAll(alice.client, bob.credentials.userId, 'a'),
      sendAll(dave.client, carol.credentials.userId, 'd'),
    ]);
    const [toBob, toCarol] = await Promise.all([bobGets, carolGets]);
    assert.ok(killed !== undefined, 'n2 was killed mid-traffic');
    await killed;
    assert.equal(n2.process.child.signalCode, 'SIGKILL');

    assert.equal(aliceSent.length, PER_SENDER, 'every send of alice resolved');
    assert.equal(daveSent.length, PER_SENDER, 'every send of dave (whose node died) resolved after moving');
    assert.deepEqual(toBob.map((m) => m.messageId), aliceSent, 'bob (moved off the dead node): each once, in order');
    assert.deepEqual(toCarol.map((m) => m.messageId), daveSent, 'carol: each of dave\'s once, in order');
    assert.deepEqual(toBob.map((m) => new TextDecoder().decode(m.ciphertext)), aliceSent.map((_, i) => `a${i}`));
    // both moved clients are now on live nodes, and the survivors saw n2 go
    await Promise.all([n1.sawDown('n2'), n3.sawDown('n2')]);
    assert.ok(bob.client.connected && dave.client.connected);
  } finally {
    await cluster.stop();
  }
});

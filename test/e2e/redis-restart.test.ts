/**
 * Presence on Redis through a Redis restart during traffic: the node's
 * heartbeats keep users online (one key per user, TTL); the test's own
 * redis-server is stopped and started empty (like a failover to an empty
 * replica). Messaging keeps working meanwhile, and presence comes back by
 * itself on the next heartbeats, with nobody reconnecting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openRedisPresence } from '../../store/redis/index.ts';
import { OwnRedisServer } from '../store/fixtures/redis-server.ts';
import { registerClient, startTestNode, take } from '../support/test-node.ts';

/** Polls `condition` on every turn until it holds; fails after `deadlineMs` (a liveness bound, not a timing assertion). */
async function eventually(what: string, condition: () => Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > end) assert.fail(`${what}: not reached`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('presence - a Redis restart during traffic: messaging keeps working and presence recovers by itself on the next heartbeats', async () => {
  const redis = new OwnRedisServer();
  await redis.start();
  const t = await startTestNode({ config: { redisUrl: redis.url }, settings: { pingIntervalMs: 100, idleTimeoutMs: 30_000 } });
  const observer = await openRedisPresence({ url: redis.url });
  try {
    assert.ok(t.logs.some((l) => l.includes('"presence":"redis"')));
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const aliceId = alice.credentials.userId;
    const bobId = bob.credentials.userId;
    await eventually('both online', async () => (await observer.presence.onlineMany([aliceId, bobId])).size === 2);

    await redis.stop();
    // Messaging does not depend on presence.
    const during = await alice.client.send(bobId, new TextEncoder().encode('while redis is down'));
    const [m] = await take(bob.client.messages(), 1);
    assert.equal(m!.messageId, during.messageId);
    m!.ack();

    await redis.start(); // same port, no data: every presence key is gone
    await eventually('presence back without any reconnect', async () => (await observer.presence.onlineMany([aliceId, bobId])).size === 2);
    assert.equal(alice.client.connected && bob.client.connected, true, 'the clients stayed connected throughout');
    const after = await alice.client.send(bobId, new TextEncoder().encode('after'));
    const [m2] = await take(bob.client.messages(), 1);
    assert.equal(m2!.messageId, after.messageId);
  } finally {
    await observer.close();
    await t.stop();
    await redis.stop();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptStatus } from '../../protocol/index.ts';
import { loginClient, registerClient, startTestNode, take } from '../support/test-node.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

test('reconnect - 1,000 messages interleaved across 20 forced reconnects arrive in order, once each', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const total = 1000;
    // Pipelined sends: up to 1,000 in flight, resent by the SDK after each drop.
    const sends = Array.from({ length: total }, (_, i) => alice.client.send(bob.credentials.userId, text(`n${i}`), { messageId: `m${i}` }));
    const received: string[] = [];
    let drops = 0;
    for await (const m of bob.client.messages()) {
      received.push(m.messageId);
      assert.equal(str(m.ciphertext), `n${m.messageId.slice(1)}`);
      // Ack only every other message before a drop, so some unacked ones must be redelivered (and dropped by the SDK).
      if (received.length % 2 === 0) m.ack();
      if (received.length % 50 === 25 && drops < 20) {
        drops++;
        if (drops % 2 === 0) alice.client.dropConnection();
        else bob.client.dropConnection();
      }
      if (received.length === total) break;
    }
    assert.equal(drops, 20);
    assert.deepEqual(received, Array.from({ length: total }, (_, i) => `m${i}`), 'in send order, no gaps, no duplicates');
    const results = await Promise.all(sends);
    assert.equal(new Set(results.map((r) => r.messageId)).size, total, 'every send got its sent');
    await alice.client.close();
    await bob.client.close();
  } finally {
    await t.stop();
  }
});

test('reconnect - receipts reach a sender that was offline when they were produced', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const sent = await alice.client.send(bob.credentials.userId, text('are you there?'));
    await alice.client.close();
    const [m] = await take(bob.client.messages(), 1);
    m!.ack();
    await bob.client.markRead(alice.credentials.userId, [m!.messageId]);
    const alice2 = await loginClient(t.url, alice.identity, alice.registrationId, alice.credentials);
    const receipts = await take(alice2.receipts(), 2);
    assert.deepEqual(receipts.map((r) => r.status), [ReceiptStatus.Delivered, ReceiptStatus.Read]);
    for (const r of receipts) assert.deepEqual(r.messageIds, [sent.messageId]);
    await alice2.close();
    await bob.client.close();
  } finally {
    await t.stop();
  }
});

test('reconnect - a second login of the same device closes the older connection with 4409', async () => {
  const t = await startTestNode();
  try {
    const bob = await registerClient(t.url);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => bob.client.once('closed', resolve));
    const bob2 = await loginClient(t.url, bob.identity, bob.registrationId, bob.credentials);
    const c = await closed;
    assert.equal(c.code, 4409);
    assert.equal(c.reason, 'Connected elsewhere');
    assert.equal(bob.client.connected, false, 'the old client does not reconnect on its own');
    // the new connection works
    const alice = await registerClient(t.url);
    await alice.client.send(bob.credentials.userId, text('to the new one'));
    const [m] = await take(bob2.messages(), 1);
    assert.equal(str(m!.ciphertext), 'to the new one');
    await alice.client.close();
    await bob2.close();
  } finally {
    await t.stop();
  }
});

test('reconnect - sending to a user reaches all of their devices and the sender\'s other devices', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    // A second device of bob and of alice: added through the store (device linking frames come with E2EE).
    const { libsignalIdentity } = await import('../../client/index.ts');
    const addDevice = async (userId: string) => {
      const identity = libsignalIdentity();
      const { device } = await t.node.chat.services.accounts.addDevice(userId, { identityKey: identity.publicKey, registrationId: 7, name: 'second' });
      t.node.chat.services.directory.invalidate(userId);
      return loginClient(t.url, identity, 7, { userId, deviceId: device.deviceId });
    };
    const bobPhone2 = await addDevice(bob.credentials.userId);
    const alicePhone2 = await addDevice(alice.credentials.userId);
    const sent = await alice.client.send(bob.credentials.userId, text('fan out'));
    for (const c of [bob.client, bobPhone2, alicePhone2]) {
      const [m] = await take(c.messages(), 1);
      assert.equal(m!.messageId, sent.messageId);
      assert.equal(str(m!.ciphertext), 'fan out');
      m!.ack();
    }
    for (const c of [alice.client, bob.client, bobPhone2, alicePhone2]) await c.close();
  } finally {
    await t.stop();
  }
});

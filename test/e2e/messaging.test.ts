import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptStatus } from '../../protocol/index.ts';
import { loginClient, registerClient, startTestNode, take } from '../support/test-node.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

test('messaging - online delivery with sent, delivered and read receipts', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const sent = await alice.client.send(bob.credentials.userId, text('hello bob'));
    assert.ok(sent.serverTime > 0);
    const [msg] = await take(bob.client.messages(), 1);
    assert.equal(str(msg!.ciphertext), 'hello bob');
    assert.equal(msg!.from, alice.credentials.userId);
    assert.equal(msg!.fromDevice, alice.credentials.deviceId);
    assert.equal(msg!.messageId, sent.messageId);
    msg!.ack();
    const receipts = alice.client.receipts()[Symbol.asyncIterator]();
    const delivered = (await receipts.next()).value!;
    assert.equal(delivered.status, ReceiptStatus.Delivered);
    assert.deepEqual(delivered.messageIds, [sent.messageId]);
    assert.equal(delivered.by, bob.credentials.userId);
    await bob.client.markRead(alice.credentials.userId, [sent.messageId]);
    const read = (await receipts.next()).value!;
    assert.equal(read.status, ReceiptStatus.Read);
    assert.deepEqual(read.messageIds, [sent.messageId]);
    await alice.client.close();
    await bob.client.close();
  } finally {
    await t.stop();
  }
});

test('messaging - offline messages wait in the inbox and arrive in order on login', async () => {
  const t = await startTestNode();
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    await bob.client.close();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await alice.client.send(bob.credentials.userId, text(`m${i}`))).messageId);
    const bob2 = await loginClient(t.url, bob.identity, bob.registrationId, bob.credentials);
    const got = await take(bob2.messages(), 50);
    assert.deepEqual(got.map((m) => m.messageId), ids);
    assert.deepEqual(got.map((m) => str(m.ciphertext)), ids.map((_, i) => `m${i}`));
    for (const m of got) m.ack();
    // all 50 delivered receipts reach alice
    let confirmed = 0;
    for await (const r of alice.client.receipts()) {
      assert.equal(r.status, ReceiptStatus.Delivered);
      confirmed += r.messageIds.length;
      if (confirmed >= 50) break;
    }
    assert.equal(confirmed, 50);
    await alice.client.close();
    await bob2.close();
  } finally {
    await t.stop();
  }
});

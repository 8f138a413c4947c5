import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CiphertextType, ReceiptStatus } from '../../protocol/index.ts';
import { MismatchedDevicesError, libsignalIdentity } from '../../client/index.ts';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import { INBOX_CURSOR_START } from '../../store/types.ts';
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

test('messaging - a node that stops right after an ack first stores the delivered receipt and deletes the acked message', async () => {
  // Receipts are coalesced for a minute here, so the ack's receipt and delete are still queued when the node stops.
  const t = await startTestNode({ settings: { receiptFlushMs: 60_000 } });
  let stopped = false;
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    await alice.client.send(bob.credentials.userId, text('last words'));
    await alice.client.close(); // offline: the receipt stays in her inbox
    const [msg] = await take(bob.client.messages(), 1);
    msg!.ack();
    // The ack has reached bob's session once a later frame of his is answered: a send to a
    // device that does not exist gets `mismatched-devices` from the session, store untouched.
    await assert.rejects(
      bob.client.send(alice.credentials.userId, [{ deviceId: 77, registrationId: 1, type: CiphertextType.Opaque, ciphertext: text('x') }]),
      MismatchedDevicesError,
    );
    await t.stop({ keepData: true });
    stopped = true;
    assert.deepEqual(t.logs.filter((l) => /"level":(40|50|60)|"level":"(warn|error|fatal)"/.test(l)), [], 'no write failed while stopping');
    const stores = await openEmbeddedStores({ path: path.join(t.dataDir, 'parley.db') });
    try {
      assert.equal(await stores.inbox.count(bob.credentials), 0, 'the acked message left bob\'s inbox');
      const toAlice = await stores.inbox.read(alice.credentials, INBOX_CURSOR_START, 10);
      assert.deepEqual(toAlice.map((e) => e.kind), ['receipt'], 'the delivered receipt waits for alice');
    } finally {
      await stores.close();
    }
  } finally {
    if (!stopped) await t.stop();
    rmSync(t.dataDir, { recursive: true, force: true });
  }
});

test('messaging - a retransmission after the recipient added a device reaches the new device too; the original copies are not stored again', { timeout: 30_000 }, async () => {
  const t = await startTestNode();
  try {
    const { services } = t.node.chat;
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    const to = bob.credentials.userId;
    const bobInbox = bob.client.messages()[Symbol.asyncIterator]();
    const first = alice.client.send(to, text('before'), { messageId: 'm-1' });
    (await bobInbox.next()).value!.ack();
    const original = await first;

    // Bob adds a device; alice did not see the outcome of her send and retransmits it.
    const identity = libsignalIdentity();
    const registrationId = 4242;
    const { device } = await services.accounts.addDevice(to, { identityKey: identity.publicKey, registrationId, name: 'second' });
    services.directory.invalidate(to);
    const again = await alice.client.send(to, text('before'), { messageId: 'm-1', resend: true });
    assert.equal(again.serverTime, original.serverTime, 'answered with the original send');

    const bob2 = await loginClient(t.url, identity, registrationId, { userId: to, deviceId: device.deviceId });
    const bob2Inbox = bob2.messages()[Symbol.asyncIterator]();
    const copy = (await bob2Inbox.next()).value!;
    assert.deepEqual([copy.messageId, str(copy.ciphertext), copy.serverTime], ['m-1', 'before', original.serverTime], 'the new device gets the message');
    copy.ack();

    // Once more: nothing new is stored (its own key is found), and the first device never gets it twice.
    await alice.client.send(to, text('before'), { messageId: 'm-1', resend: true });
    await alice.client.send(to, text('after'));
    assert.equal(str((await bobInbox.next()).value!.ciphertext), 'after', 'device 1: the next message, not m-1 again');
    assert.equal(str((await bob2Inbox.next()).value!.ciphertext), 'after', 'device 2: the next message, not m-1 again');
  } finally {
    await t.stop();
  }
});

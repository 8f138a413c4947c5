/**
 * End-to-end encryption through a real node with real libsignal on both ends:
 * PQXDH session setup, both directions, restart with the local store,
 * out-of-order and duplicate ciphertexts, re-install (identity change),
 * safety numbers, signed-key rotation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CiphertextType } from '../../protocol/index.ts';
import type { IdentityChangeEvent, SecureMessage } from '../../client/index.ts';
import { fetchPreKeyBundles } from '../../client/index.ts';
import { startTestNode, take } from '../support/test-node.ts';
import { nextEvent, reinstall, secureClients } from '../client/support/secure-clients.ts';

const texts = (ms: SecureMessage[]) => ms.map((m) => (m.content.type === 'text' ? m.content.text : `<${m.content.type}>`));

test('e2ee - PQXDH session setup and messages both ways: prekey messages until the first reply, whisper after', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    const first = await alice.encrypt(bob.device.userId, { type: 'text', text: 'probe' });
    assert.equal(first.length, 1);
    assert.equal(first[0]!.type, CiphertextType.PreKey, 'a new session starts with a PreKeySignalMessage');
    assert.equal(first[0]!.deviceId, bob.device.deviceId);
    assert.equal(first[0]!.registrationId, bob.registrationId);
    await alice.sendText(bob.device.userId, 'hello bob');
    await alice.send(bob.device.userId, { type: 'media', media: { id: 'blob-1', key: new Uint8Array(32).fill(7), digest: new Uint8Array(32).fill(9), size: 1234, contentType: 'image/jpeg' } });
    const got = await take(bob.messages(), 2);
    assert.deepEqual(texts(got), ['hello bob', '<media>']);
    assert.equal(got[0]!.from, alice.device.userId);
    assert.equal(got[1]!.content.type === 'media' && got[1]!.content.media.size, 1234);
    for (const m of got) m.ack();
    await bob.sendText(alice.device.userId, 'hi alice');
    await bob.send(alice.device.userId, { type: 'receipt', status: 'read', messageIds: [got[0]!.messageId] });
    const back = await take(alice.messages(), 2);
    assert.deepEqual(texts(back), ['hi alice', '<receipt>']);
    for (const m of back) m.ack();
    const after = await alice.encrypt(bob.device.userId, { type: 'typing', action: 'started' });
    assert.equal(after[0]!.type, CiphertextType.Whisper, 'after the reply the session is established');
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('e2ee - a restarted client keeps its sessions (local SQLite store) and reads what arrived while it was away', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    let bob = await sdk.register('bob');
    const bobId = bob.device.userId;
    await alice.sendText(bobId, 'one');
    (await take(bob.messages(), 1))[0]!.ack();
    await bob.sendText(alice.device.userId, 'ack one');
    (await take(alice.messages(), 1))[0]!.ack();
    await bob.close();
    for (const s of ['two', 'three']) await alice.sendText(bobId, s);
    bob = await sdk.open('bob');
    const got = await take(bob.messages(), 2);
    assert.deepEqual(texts(got), ['two', 'three']);
    for (const m of got) m.ack();
    await alice.close();
    const alice2 = await sdk.open('alice');
    const env = await alice2.encrypt(bobId, { type: 'text', text: 'x' });
    assert.equal(env[0]!.type, CiphertextType.Whisper, 'the session survived the restart: no new PQXDH');
    await alice2.sendText(bobId, 'after restart');
    assert.deepEqual(texts(await take(bob.messages(), 1)), ['after restart']);
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('e2ee - out-of-order ciphertexts decrypt; a replayed ciphertext is dropped as a duplicate, not shown twice', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    const bobId = bob.device.userId;
    await alice.sendText(bobId, 'setup');
    (await take(bob.messages(), 1))[0]!.ack();
    await bob.sendText(alice.device.userId, 'setup reply');
    (await take(alice.messages(), 1))[0]!.ack();

    const m1 = await alice.encrypt(bobId, { type: 'text', text: 'm1' });
    const m2 = await alice.encrypt(bobId, { type: 'text', text: 'm2' });
    const m3 = await alice.encrypt(bobId, { type: 'text', text: 'm3' });
    assert.ok([m1, m2, m3].every((e) => e[0]!.type === CiphertextType.Whisper));
    const duplicate = nextEvent<{ messageId: string }>(bob, 'duplicate');
    await alice.transport.send(bobId, m3, { messageId: 'ooo-3' });
    await alice.transport.send(bobId, m1, { messageId: 'ooo-1' });
    await alice.transport.send(bobId, m2, { messageId: 'ooo-2' });
    await alice.transport.send(bobId, m2, { messageId: 'ooo-2-replayed' }); // same ciphertext under a new message id
    await alice.sendText(bobId, 'm4');
    const got = await take(bob.messages(), 4);
    assert.deepEqual(texts(got), ['m3', 'm1', 'm2', 'm4']);
    assert.deepEqual(got.map((m) => m.messageId).slice(0, 3), ['ooo-3', 'ooo-1', 'ooo-2']);
    assert.equal((await duplicate).messageId, 'ooo-2-replayed');
    for (const m of got) m.ack();
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('e2ee - re-install: the new identity is announced (identity-change), the old session is dropped, messages flow again', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    const bobId = bob.device.userId;
    const oldDevice = bob.device.deviceId;
    await alice.sendText(bobId, 'before');
    (await take(bob.messages(), 1))[0]!.ack();
    const safetyBefore = alice.safetyNumber(bobId);
    assert.equal(safetyBefore.displayable, bob.safetyNumber(alice.device.userId).displayable);
    await bob.close();

    const bob2 = await reinstall(t.node, sdk, 'bob-reinstalled', bobId, oldDevice);
    assert.notEqual(bob2.device.deviceId, oldDevice);
    const change = nextEvent<IdentityChangeEvent>(alice, 'identity-change');
    await alice.sendText(bobId, 'after re-install');
    const event = await change;
    assert.equal(event.userId, bobId);
    assert.equal(event.deviceId, bob2.device.deviceId);
    assert.deepEqual(new Uint8Array(event.current), new Uint8Array(bob2.identityKey));
    const [m] = await take(bob2.messages(), 1);
    assert.deepEqual(m!.content, { type: 'text', text: 'after re-install' });
    m!.ack();
    const safetyAfter = alice.safetyNumber(bobId);
    assert.notEqual(safetyAfter.displayable, safetyBefore.displayable, 'the safety number changed with the identity');
    assert.equal(safetyAfter.displayable, bob2.safetyNumber(alice.device.userId).displayable);
    await bob2.sendText(alice.device.userId, 'new phone');
    assert.deepEqual(texts(await take(alice.messages(), 1)), ['new phone']);
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('e2ee - safety numbers: both sides display the same digits; scanning verifies; another identity does not', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    const carol = await sdk.register('carol');
    await alice.sendText(bob.device.userId, 'hi');
    await carol.sendText(bob.device.userId, 'hi');
    for (const m of await take(bob.messages(), 2)) m.ack();
    const a = alice.safetyNumber(bob.device.userId);
    const b = bob.safetyNumber(alice.device.userId);
    assert.match(a.displayable, /^\d{60}$/);
    assert.equal(a.displayable, b.displayable);
    assert.equal(alice.isVerified(bob.device.userId), false);
    assert.equal(alice.verifySafetyNumber(bob.device.userId, bob.safetyNumber(carol.device.userId).scannable), false);
    assert.equal(alice.verifySafetyNumber(bob.device.userId, new Uint8Array([1, 2, 3])), false);
    assert.equal(alice.verifySafetyNumber(bob.device.userId, b.scannable), true);
    assert.equal(alice.isVerified(bob.device.userId), true);
    assert.throws(() => alice.safetyNumber(carol.device.userId), /no identity known/);
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('e2ee - signed and last-resort rotation: new fetchers get the new keys; a session started on the old bundle still opens', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    const carol = await sdk.register('carol');
    const bobId = bob.device.userId;
    const before = bob.keyStatus();
    const early = await alice.encrypt(bobId, { type: 'text', text: 'built on the old bundle' });
    const rotated = await bob.rotateSignedPreKeys();
    assert.notEqual(rotated.signedPreKeyId, before.signedPreKeyId);
    assert.notEqual(rotated.lastResortId, before.lastResortId);
    const [bundle] = await fetchPreKeyBundles(carol.transport, bobId, 0);
    assert.equal(bundle!.signedPreKey.id, rotated.signedPreKeyId);
    await alice.transport.send(bobId, early, { messageId: 'early-1' });
    await carol.sendText(bobId, 'built on the new bundle');
    const got = await take(bob.messages(), 2);
    assert.deepEqual(texts(got).sort(), ['built on the new bundle', 'built on the old bundle']);
    assert.equal(bob.keyStatus().signedKeys, 2, 'the old signed key stays for the grace period');
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

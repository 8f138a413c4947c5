/**
 * The pre-key service through a real node and real SDK clients: one-time key
 * exhaustion and the last-resort fallback, concurrent fetches, the fetch rate
 * limit, signature checks on upload, and automatic replenishing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEMKeyPair, PrivateKey } from '@signalapp/libsignal-client';
import { isParleyError, type PreKeyBundle } from '../../protocol/index.ts';
import { fetchPreKeyBundles, uploadPreKeys, type SecureClient } from '../../client/index.ts';
import { startTestNode, take, type TestNode } from '../support/test-node.ts';
import { secureClients, waitFor } from './support/secure-clients.ts';

function supply(t: TestNode, c: SecureClient) {
  return t.node.chat.services.keys!.supply(c.device);
}

function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  return assert.rejects(promise, (err: unknown) => {
    assert.ok(isParleyError(err), `expected a ParleyError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

test('prekeys - one-time keys exhausted: bundles fall back to the last-resort Kyber key without an EC key, and sessions still start', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    let bob = await sdk.register('bob', { preKeyBatch: 2 });
    const bobId = bob.device.userId;
    const { lastResortId } = bob.keyStatus();
    await bob.close(); // offline: nobody replenishes
    const senders = await Promise.all(['carol', 'dave', 'erin', 'frank'].map((n) => sdk.register(n)));
    await senders[0]!.sendText(bobId, 'from carol');
    await senders[1]!.sendText(bobId, 'from dave');
    const [probe] = await fetchPreKeyBundles(senders[2]!.transport, bobId, 0);
    assert.equal(probe!.oneTimePreKey, null, 'no EC one-time key left');
    assert.equal(probe!.kyberPreKey.id, lastResortId, 'the last-resort Kyber key');
    assert.deepEqual(await t.node.chat.services.keys!.supply({ userId: bobId, deviceId: 1 }), { ec: 0, kyber: 0 });
    await senders[2]!.sendText(bobId, 'from erin');
    await senders[3]!.sendText(bobId, 'from frank');
    bob = await sdk.open('bob');
    const got = await take(bob.messages(), 4);
    assert.deepEqual(got.map((m) => (m.content.type === 'text' ? m.content.text : '')).sort(), ['from carol', 'from dave', 'from erin', 'from frank']);
    for (const m of got) m.ack();
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('prekeys - concurrent bundle fetches never hand out the same one-time key', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const bob = await sdk.register('bob');
    const fetchers = await Promise.all(['a', 'b', 'c', 'd'].map((n) => sdk.register(n)));
    const fetches: Promise<PreKeyBundle[]>[] = [];
    for (let i = 0; i < 10; i++) for (const f of fetchers) fetches.push(fetchPreKeyBundles(f.transport, bob.device.userId, bob.device.deviceId));
    const bundles = (await Promise.all(fetches)).flat();
    assert.equal(bundles.length, 40);
    const ec = bundles.map((b) => b.oneTimePreKey?.id);
    const kyber = bundles.map((b) => b.kyberPreKey.id);
    assert.ok(ec.every((id) => id !== undefined));
    assert.equal(new Set(ec).size, 40, 'each EC one-time key once');
    assert.equal(new Set(kyber).size, 40, 'each Kyber one-time key once');
    assert.ok(!kyber.includes(bob.keyStatus().lastResortId!), 'no fallback while one-time keys remain');
    assert.deepEqual(await supply(t, bob), { ec: 60, kyber: 60 });
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('prekeys - bundle fetches are rate-limited per requesting device (PARLEY_ERR_RATE_LIMITED)', async () => {
  const t = await startTestNode({ keys: { fetchBurst: 3, fetchPerMinute: 0 } });
  const sdk = secureClients(t.url);
  try {
    const bob = await sdk.register('bob');
    const mallory = await sdk.register('mallory');
    const carol = await sdk.register('carol');
    for (let i = 0; i < 3; i++) assert.equal((await fetchPreKeyBundles(mallory.transport, bob.device.userId, 0)).length, 1);
    await rejectsWithCode(fetchPreKeyBundles(mallory.transport, bob.device.userId, 0), 'PARLEY_ERR_RATE_LIMITED');
    assert.deepEqual(await supply(t, bob), { ec: 97, kyber: 97 }, 'the refused fetch took nothing');
    assert.equal(mallory.transport.connected, true, 'a refused fetch does not close the socket');
    await carol.sendText(bob.device.userId, 'others are not limited');
    assert.equal((await take(bob.messages(), 1))[0]!.content.type, 'text');
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('prekeys - uploads with a bad signature or a foreign identity key are rejected and store nothing', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const carol = await sdk.register('carol');
    const identityKey = alice.identityKey;
    const registrationId = alice.registrationId;
    const stranger = PrivateKey.generate();
    const ec = PrivateKey.generate().getPublicKey().serialize();
    const kem = KEMKeyPair.generate().getPublicKey().serialize();
    const base = { identityKey, registrationId, signedPreKey: null, kyberLastResort: null, oneTimePreKeys: [], oneTimeKyberPreKeys: [] };
    await rejectsWithCode(uploadPreKeys(alice.transport, { ...base, signedPreKey: { id: 9001, publicKey: ec, signature: stranger.sign(ec) } }), 'PARLEY_ERR_INVALID_KEY');
    await rejectsWithCode(uploadPreKeys(alice.transport, { ...base, kyberLastResort: { id: 9002, publicKey: kem, signature: stranger.sign(kem) } }), 'PARLEY_ERR_INVALID_KEY');
    await rejectsWithCode(uploadPreKeys(alice.transport, {
      ...base, oneTimePreKeys: [{ id: 9003, publicKey: ec }], oneTimeKyberPreKeys: [{ id: 9004, publicKey: kem, signature: new Uint8Array(64) }],
    }), 'PARLEY_ERR_INVALID_KEY');
    await rejectsWithCode(uploadPreKeys(alice.transport, { ...base, oneTimePreKeys: [{ id: 9005, publicKey: new Uint8Array(33) }] }), 'PARLEY_ERR_INVALID_KEY');
    await rejectsWithCode(uploadPreKeys(alice.transport, { ...base, identityKey: carol.identityKey }), 'PARLEY_ERR_IDENTITY_KEY_MISMATCH');
    assert.deepEqual(await supply(t, alice), { ec: 100, kyber: 100 }, 'nothing of the rejected uploads was stored');
    const [bundle] = await fetchPreKeyBundles(carol.transport, alice.device.userId, 0);
    assert.equal(bundle!.signedPreKey.id, alice.keyStatus().signedPreKeyId);
    // a valid upload after the rejections is accepted
    await uploadPreKeys(alice.transport, { ...base, oneTimePreKeys: [{ id: 9006, publicKey: ec }] });
    assert.deepEqual(await supply(t, alice), { ec: 100, kyber: 99 });
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

test('prekeys - prekeys-low makes the SDK upload more, online at once and offline on the next login', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    let bob = await sdk.register('bob', { preKeyBatch: 12 });
    const carol = await sdk.register('carol');
    assert.deepEqual(await supply(t, bob), { ec: 12, kyber: 12 });
    const replenished = new Promise<{ ec: number; kyber: number }>((resolve) => bob.once('prekeys-replenished', resolve));
    for (let i = 0; i < 3; i++) await fetchPreKeyBundles(carol.transport, bob.device.userId, 0);
    assert.deepEqual(await replenished, { ec: 3, kyber: 3 }, 'the server pushed prekeys-low at 9 left; the SDK topped up to 12');
    assert.deepEqual(await supply(t, bob), { ec: 12, kyber: 12 });

    const device = bob.device;
    await bob.close();
    for (let i = 0; i < 5; i++) await fetchPreKeyBundles(carol.transport, device.userId, 0);
    assert.deepEqual(await t.node.chat.services.keys!.supply(device), { ec: 7, kyber: 7 });
    bob = await sdk.open('bob', { preKeyBatch: 12 });
    await waitFor(async () => (await supply(t, bob)).ec === 12, 'the SDK to replenish after login');
    assert.deepEqual(await supply(t, bob), { ec: 12, kyber: 12 });
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

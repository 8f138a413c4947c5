import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CiphertextType } from '../../protocol/index.ts';
import { planFanout } from '../../actors/fanout.ts';

const bob = [{ deviceId: 1, registrationId: 11 }, { deviceId: 2, registrationId: 12 }];
const alice = [{ deviceId: 1, registrationId: 21 }, { deviceId: 3, registrationId: 23 }];
const sender = { userId: 'alice', deviceId: 1 };
const ct = Uint8Array.of(1, 2, 3);

test('fanout - an opaque send reaches every recipient device and the sender\'s other devices', () => {
  const plan = planFanout(sender, 'bob', [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: ct }], bob, alice);
  assert.ok(plan.ok);
  assert.deepEqual(plan.copies.map((c) => `${c.recipient.userId}/${c.recipient.deviceId}`), ['bob/1', 'bob/2', 'alice/3']);
});

test('fanout - an opaque send to oneself reaches one\'s other devices once', () => {
  const plan = planFanout(sender, 'alice', [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: ct }], alice, alice);
  assert.ok(plan.ok);
  assert.deepEqual(plan.copies.map((c) => `${c.recipient.userId}/${c.recipient.deviceId}`), ['alice/3']);
});

test('fanout - per-device envelopes must match the recipient devices exactly (missing, extra, stale)', () => {
  const env = (deviceId: number, registrationId: number) => ({ deviceId, registrationId, type: CiphertextType.Whisper, ciphertext: ct });
  const ok = planFanout(sender, 'bob', [env(1, 11), env(2, 0)], bob, alice);
  assert.ok(ok.ok);
  assert.equal(ok.copies.length, 2);
  const bad = planFanout(sender, 'bob', [env(1, 99), env(5, 0)], bob, alice);
  assert.deepEqual(bad, { ok: false, missing: [2], extra: [5], stale: [1] });
});

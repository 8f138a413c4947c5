import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CiphertextType } from '../../protocol/index.ts';
import { startTestNode, take } from '../support/test-node.ts';
import { secureClients } from '../client/support/secure-clients.ts';

test('e2ee - PQXDH session setup and messages both ways; the wire carries prekey then whisper messages', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  try {
    const alice = await sdk.register('alice');
    const bob = await sdk.register('bob');
    await alice.sendText(bob.device.userId, 'hello bob');
    const [m1] = await take(bob.messages(), 1);
    assert.deepEqual(m1!.content, { type: 'text', text: 'hello bob' });
    assert.equal(m1!.from, alice.device.userId);
    m1!.ack();
    await bob.sendText(alice.device.userId, 'hi alice');
    const [m2] = await take(alice.messages(), 1);
    assert.deepEqual(m2!.content, { type: 'text', text: 'hi alice' });
    m2!.ack();
    const env = await alice.encrypt(bob.device.userId, { type: 'typing', action: 'started' });
    assert.equal(env.length, 1);
    assert.equal(env[0]!.type, CiphertextType.Whisper, 'after the reply the session is established');
  } finally {
    await sdk.closeAll();
    await t.stop();
  }
});

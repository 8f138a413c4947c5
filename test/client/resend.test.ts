/**
 * The SDK flags retransmissions: a real node behind a relay that records the
 * frames the node receives and loses (or replaces) answers on their way back.
 * A send's first transmission carries no `resend`; every later transmission
 * of it (after a reconnect, after a retryable error) carries `resend: true`,
 * and the retransmission is answered with the original `sent`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameKind, errorFrame, type SendFrame } from '../../protocol/index.ts';
import { registerClient, startTestNode, take, type TestNode } from '../support/test-node.ts';
import { FrameRelay } from './support/frame-relay.ts';
import type { ParleyClient } from '../../client/index.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** The `send` frames of `messageId` the node received, as [connection, resend flag]. */
function transmissions(relay: FrameRelay, messageId: string): Array<[connection: number, resend: boolean | undefined]> {
  return relay.received
    .filter((r): r is { connection: number; frame: SendFrame } => r.frame.kind === FrameKind.Send && r.frame.messageId === messageId)
    .map((r) => [r.connection, r.frame.resend]);
}

/** Message ids of the first `n` messages `client` hands to the app. */
async function firstIds(client: ParleyClient, n: number): Promise<string[]> {
  return (await take(client.messages(), n)).map((m) => m.messageId);
}

async function withRelay(body: (t: TestNode, relay: FrameRelay, relayUrl: string) => Promise<void>): Promise<void> {
  const t = await startTestNode();
  const relay = new FrameRelay(t.url);
  try {
    await body(t, relay, await relay.start());
  } finally {
    await t.stop();
    await relay.stop();
  }
}

test('client - resend: a send whose sent was lost goes again after the reconnect flagged resend, and gets the original sent', () =>
  withRelay(async (t, relay, relayUrl) => {
    const alice = await registerClient(relayUrl);
    const bob = await registerClient(t.url);
    let lost: number | undefined;
    relay.onServerFrame = (f) => {
      if (f.kind === FrameKind.Sent && f.messageId === 'lost-sent' && lost === undefined) {
        lost = f.serverTime;
        return 'cut'; // stored and answered, but the answer never reaches alice
      }
      return 'forward';
    };
    // while alice is offline, one more send is queued: it has never gone out, so it is a first transmission
    let queued: Promise<unknown> | undefined;
    alice.client.once('disconnected', () => {
      queued = alice.client.send(bob.credentials.userId, text('queued'), { messageId: 'queued' });
    });
    const result = await alice.client.send(bob.credentials.userId, text('hello'), { messageId: 'lost-sent' });
    await queued;

    assert.ok(lost !== undefined, 'the node answered the first transmission');
    assert.deepEqual(transmissions(relay, 'lost-sent'), [[1, undefined], [2, true]], 'first without resend, then again with it on the new connection');
    assert.deepEqual(transmissions(relay, 'queued'), [[2, undefined]], 'never sent before the reconnect: a first transmission');
    assert.equal(result.serverTime, lost, 'the original sent: the retransmission was a duplicate');
    assert.deepEqual(await firstIds(bob.client, 2), ['lost-sent', 'queued'], 'bob gets each once, in order');
  }));

test('client - resend: after a retryable error the send goes again flagged resend; later sends that were answered are not repeated', () =>
  withRelay(async (t, relay, relayUrl) => {
    const alice = await registerClient(relayUrl);
    const bob = await registerClient(t.url);
    let stored: number | undefined;
    relay.onServerFrame = (f) => {
      if (f.kind === FrameKind.Sent && f.messageId === 'flaky' && stored === undefined) {
        // the worst case for the client: the node stored it, but the answer it sees is a retryable error
        stored = f.serverTime;
        return { replaceWith: errorFrame('PARLEY_ERR_STORE_UNAVAILABLE', f.rid, 'injected by the relay') };
      }
      return 'forward';
    };
    const retrying = new Promise<{ code: string }>((resolve) => alice.client.once('retrying', resolve));
    const result = await alice.client.send(bob.credentials.userId, text('again?'), { messageId: 'flaky' });
    assert.equal((await retrying).code, 'PARLEY_ERR_STORE_UNAVAILABLE');
    await alice.client.send(bob.credentials.userId, text('next'), { messageId: 'next' });

    assert.deepEqual(transmissions(relay, 'flaky'), [[1, undefined], [1, true]], 'the same connection, the second time flagged');
    assert.deepEqual(transmissions(relay, 'next'), [[1, undefined]]);
    assert.equal(result.serverTime, stored, 'the original sent');
    assert.deepEqual(await firstIds(bob.client, 2), ['flaky', 'next'], 'stored once');
  }));

test('client - resend: first transmissions carry no resend; send({ resend: true }) flags an app-level retry of an id from before', () =>
  withRelay(async (t, relay, relayUrl) => {
    const alice = await registerClient(relayUrl);
    const bob = await registerClient(t.url);
    const first = await alice.client.send(bob.credentials.userId, text('one'), { messageId: 'app-1' });
    await alice.client.send(bob.credentials.userId, text('two'));
    // the app does not know whether 'app-1' went through (say, it crashed before recording the sent)
    const again = await alice.client.send(bob.credentials.userId, text('one'), { messageId: 'app-1', resend: true });

    const sends = relay.received.filter((r) => r.frame.kind === FrameKind.Send).map((r) => (r.frame as SendFrame).resend);
    assert.deepEqual(sends, [undefined, undefined, true]);
    assert.equal(again.serverTime, first.serverTime, 'the original sent');
    const [firstId, secondId] = await firstIds(bob.client, 2);
    assert.equal(firstId, 'app-1');
    assert.notEqual(secondId, 'app-1', 'delivered once');
  }));

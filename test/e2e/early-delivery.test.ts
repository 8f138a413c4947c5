/**
 * Early delivery on the embedded store: an online device gets a message when
 * the append is enqueued, before it is durable; the sender's `sent` still
 * waits for the commit, or (deferred writes, `inboxDeferMs` > 0) for the
 * recipient device's ack, in which case the message is never written. These
 * tests hold the database's write lock from a second connection (so no
 * append can commit) and check what may and may not happen meanwhile, then
 * release it. Each waits on events, not time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CiphertextType, FrameKind } from '../../protocol/index.ts';
import { MismatchedDevicesError, type IncomingMessage, type ParleyClient } from '../../client/index.ts';
import type { InboxBatch } from '../../store/types.ts';
import { loginClient, registerClient, startTestNode, type TestNode } from '../support/test-node.ts';
import { FrameRelay } from '../client/support/frame-relay.ts';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Emits each batch's kind when the node enqueues an append (wrapping the real store call). */
function watchAppends(t: TestNode): EventEmitter {
  const early = t.node.chat.services.inbox.early;
  assert.ok(early !== undefined, 'the embedded file store assigns ids early');
  const appends = new EventEmitter();
  const real = early.append.bind(early);
  early.append = (batch: InboxBatch, options?: { readonly defer?: boolean }) => {
    const r = real(batch, options);
    appends.emit(batch.kind, batch);
    return r;
  };
  return appends;
}

/** Holds SQLite's write lock from another connection: no append commits until `release`. */
function holdWriteLock(t: TestNode): { release(): void } {
  const db = new Database(path.join(t.dataDir, 'parley.db'));
  db.exec('BEGIN IMMEDIATE');
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

/** Records, in wire order, the `sent` and receipt frames the node sends through `relay` (and forwards every frame). */
function recordConfirmations(relay: FrameRelay): string[] {
  const seen: string[] = [];
  relay.onServerFrame = (f) => {
    if (f.kind === FrameKind.Sent) seen.push(`sent ${f.messageId}`);
    if (f.kind === FrameKind.ReceiptNotice) seen.push(`receipt ${f.messageIds.join(',')}`);
    return 'forward';
  };
  return seen;
}

/** Early delivery alone: every append is written at once (no deferred writes). */
const WRITE_AT_ONCE = { inboxDeferMs: 0 };
/** Deferred writes that only an ack, a read or a stop ends (the deadline never passes during a test). */
const DEFER_LONG = { inboxDeferMs: 60_000 };

/** A node whose appends are watched, alice and bob registered on it, and a write lock the body may hold (released at the end). */
async function scene(
  body: (s: { t: TestNode; appends: EventEmitter; alice: Registered; bob: Registered; hold(): { release(): void } }) => Promise<void>,
  config: { inboxDeferMs: number } = WRITE_AT_ONCE,
): Promise<void> {
  const t = await startTestNode({ config });
  const appends = watchAppends(t);
  let lock: { release(): void } | undefined;
  try {
    const alice = await registerClient(t.url);
    const bob = await registerClient(t.url);
    await body({ t, appends, alice, bob, hold: () => (lock = holdWriteLock(t)) });
  } finally {
    lock?.release();
    await t.stop();
  }
}
type Registered = Awaited<ReturnType<typeof registerClient>>;

/** Releases the lock; once `first` ('one') is confirmed the sender sends 'two': `inbox` must get 'one', then 'two'. */
async function releaseThenInOrder(
  lock: { release(): void }, first: Promise<unknown>, sender: ParleyClient, to: string, inbox: AsyncIterator<IncomingMessage>, why: string,
): Promise<void> {
  lock.release();
  await first;
  await sender.send(to, text('two'));
  assert.equal(str((await next(inbox)).ciphertext), 'one', why);
  assert.equal(str((await next(inbox)).ciphertext), 'two');
}

async function next(it: AsyncIterator<IncomingMessage>): Promise<IncomingMessage> {
  const r = await it.next();
  assert.ok(r.done !== true, 'the message stream ended');
  return r.value;
}

/**
 * A frame back on `client`'s connection that its session writes after
 * handling everything already in its mailbox: a send to a device that does
 * not exist is answered `mismatched-devices` without touching the store.
 */
async function barrier(client: ParleyClient, to: string): Promise<void> {
  await assert.rejects(
    client.send(to, [{ deviceId: 77, registrationId: 1, type: CiphertextType.Opaque, ciphertext: text('x') }]),
    MismatchedDevicesError,
  );
}

test('early delivery - an online device gets a message before it is durable; `sent` waits for the commit, and the delivered receipt never overtakes it', { timeout: 60_000 }, async () => {
  const t = await startTestNode({ config: WRITE_AT_ONCE });
  const appends = watchAppends(t);
  // Alice talks to the node through a relay that records the node's frames to her in wire order.
  const relay = new FrameRelay(t.url);
  const lock = { release: () => {} };
  try {
    const toAlice = recordConfirmations(relay);
    const alice = await registerClient(await relay.start());
    const bob = await registerClient(t.url);
    const inbox = bob.client.messages()[Symbol.asyncIterator]();
    Object.assign(lock, holdWriteLock(t));

    const sending = alice.client.send(bob.credentials.userId, text('early'));
    sending.catch(() => undefined); // awaited below; a failed assertion before that must not leave it unhandled
    const m = await next(inbox);
    assert.equal(str(m.ciphertext), 'early', 'delivered while no append can commit');
    assert.deepEqual(toAlice, [], 'no `sent` before the commit');

    const receiptAppended = once(appends, 'receipt');
    m.ack();
    await receiptAppended;
    // Alice's session has now handled the receipt's notice: had it pushed it,
    // the receipt would reach alice before this answer.
    await barrier(alice.client, bob.credentials.userId);
    assert.deepEqual(toAlice, [], 'neither `sent` nor the receipt while nothing is stored');

    const receipt = once(alice.client, 'receipt');
    lock.release();
    await sending;
    await receipt;
    assert.deepEqual(toAlice, [`sent ${m.messageId}`, `receipt ${m.messageId}`], '`sent` first, then the receipt');
  } finally {
    lock.release();
    await relay.stop();
    await t.stop();
  }
});

test('early delivery - a delivered receipt whose messages all got `sent` goes to the sender before it is durable', { timeout: 60_000 }, () =>
  scene(async ({ appends, alice, bob, hold }) => {
    const inbox = bob.client.messages()[Symbol.asyncIterator]();
    const sent = await alice.client.send(bob.credentials.userId, text('confirmed'));
    const m = await next(inbox);
    hold();

    const receiptAppended = once(appends, 'receipt');
    const receipt = once(alice.client, 'receipt');
    m.ack();
    await receiptAppended;
    const [r] = (await receipt) as [{ messageIds: string[] }];
    assert.deepEqual(r.messageIds, [sent.messageId], 'the receipt arrived while no append can commit');
  }));

test('early delivery - a device that logs in while a message to it is being written gets it once stored, before what follows', { timeout: 60_000 }, () =>
  scene(async ({ t, appends, alice, bob, hold }) => {
    await bob.client.close();
    const lock = hold();

    const appended = once(appends, 'message');
    const first = alice.client.send(bob.credentials.userId, text('one'));
    first.catch(() => undefined); // awaited below
    await appended; // announced to nobody: bob has no session
    const bob2 = await loginClient(t.url, bob.identity, bob.registrationId, bob.credentials);
    const inbox = bob2.messages()[Symbol.asyncIterator]();
    await releaseThenInOrder(lock, first, alice.client, bob.credentials.userId, inbox, 'the message written during the login comes first');
  }));

test('early delivery - after a takeover, a message pushed early to the old connection reaches the new one once stored, before what follows', { timeout: 60_000 }, () =>
  scene(async ({ t, alice, bob, hold }) => {
    const oldInbox = bob.client.messages()[Symbol.asyncIterator]();
    const lock = hold();

    const first = alice.client.send(bob.credentials.userId, text('one'));
    first.catch(() => undefined); // awaited below
    const early = await next(oldInbox);
    assert.equal(str(early.ciphertext), 'one', 'pushed before it was stored'); // and never acked
    const closed = once(bob.client, 'closed');
    const bob2 = await loginClient(t.url, bob.identity, bob.registrationId, bob.credentials);
    await closed;
    const inbox = bob2.messages()[Symbol.asyncIterator]();
    await releaseThenInOrder(lock, first, alice.client, bob.credentials.userId, inbox, 'the unacked message comes again, first');
  }));

/** Rows the node's database holds for a client message id: inbox entries, and dedup keys (its own and its receipts'). */
function rowsFor(dataDir: string, messageId: string): { entries: number; dedupKeys: number; receiptKeys: number } {
  const db = new Database(path.join(dataDir, 'parley.db'), { readonly: true });
  try {
    const n = (sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { n: number }).n;
    return {
      entries: n('SELECT count(*) AS n FROM inbox_entries WHERE client_message_id = ?', messageId),
      dedupKeys: n('SELECT count(*) AS n FROM inbox_dedup WHERE client_message_id = ?', messageId),
      receiptKeys: n("SELECT count(*) AS n FROM inbox_dedup WHERE client_message_id LIKE 'rcpt.%'"),
    };
  } finally {
    db.close();
  }
}

test('deferred writes - a message its online recipient acks is confirmed (`sent`, then the receipt) while nothing can commit, and neither it nor its receipt is ever written', { timeout: 60_000 }, async () => {
  const t = await startTestNode({ config: DEFER_LONG });
  const relay = new FrameRelay(t.url);
  let lock: { release(): void } | undefined;
  try {
    const toAlice = recordConfirmations(relay);
    const alice = await registerClient(await relay.start());
    const bob = await registerClient(t.url);
    const inbox = bob.client.messages()[Symbol.asyncIterator]();
    lock = holdWriteLock(t);

    const sending = alice.client.send(bob.credentials.userId, text('never written'));
    sending.catch(() => undefined); // awaited below
    const m = await next(inbox);
    await barrier(alice.client, bob.credentials.userId);
    assert.deepEqual(toAlice, [], 'no `sent` before the recipient acked (nothing can commit)');

    const receipt = once(alice.client, 'receipt');
    m.ack();
    await sending;
    await receipt;
    assert.deepEqual(toAlice, [`sent ${m.messageId}`, `receipt ${m.messageId}`], 'confirmed by the ack, `sent` first, while the lock is still held');
    // Alice's SDK acked the receipt before this barrier's send: both sessions have dropped their copies.
    await barrier(alice.client, bob.credentials.userId);
    lock.release();
    await t.stop({ keepData: true }); // a stop writes whatever is still parked
    assert.deepEqual(rowsFor(t.dataDir, m.messageId), { entries: 0, dedupKeys: 0, receiptKeys: 0 }, 'nothing of the message or its receipt reached the disk');
  } finally {
    lock?.release();
    await relay.stop();
    await t.stop();
  }
});

test('deferred writes - a message its recipient has not acked is written before `sent` when anything needs the store complete (here: a takeover), and comes again on the new connection', { timeout: 60_000 }, () =>
  scene(async ({ t, alice, bob }) => {
    const oldInbox = bob.client.messages()[Symbol.asyncIterator]();
    const sending = alice.client.send(bob.credentials.userId, text('held back'));
    sending.catch(() => undefined); // awaited below
    const early = await next(oldInbox); // never acked
    await barrier(alice.client, bob.credentials.userId);
    assert.deepEqual(rowsFor(t.dataDir, early.messageId), { entries: 0, dedupKeys: 0, receiptKeys: 0 }, 'parked, not written yet');

    const closed = once(bob.client, 'closed');
    const bob2 = await loginClient(t.url, bob.identity, bob.registrationId, bob.credentials);
    await closed;
    const inbox = bob2.messages()[Symbol.asyncIterator]();
    await sending;
    assert.equal(rowsFor(t.dataDir, early.messageId).entries, 1, '`sent` came after the commit');
    const again = await next(inbox);
    assert.equal(again.messageId, early.messageId, 'read from the inbox by the new session');
  }, DEFER_LONG));

test('deferred writes - a parked message goes to the disk ahead of a later one to an offline device, so commit order stays id order', { timeout: 60_000 }, () =>
  scene(async ({ t, alice, bob }) => {
    const carol = await registerClient(t.url);
    await carol.client.close(); // offline: appends to her are written at once
    const inbox = bob.client.messages()[Symbol.asyncIterator]();
    const first = alice.client.send(bob.credentials.userId, text('to bob'));
    first.catch(() => undefined); // awaited below
    const m = await next(inbox); // never acked
    await barrier(alice.client, bob.credentials.userId);
    assert.equal(rowsFor(t.dataDir, m.messageId).entries, 0, 'parked');
    const second = await alice.client.send(carol.credentials.userId, text('to carol'));
    await first;
    assert.equal(rowsFor(t.dataDir, m.messageId).entries, 1, 'written with (before) the append that was not deferred');
    assert.equal(rowsFor(t.dataDir, second.messageId).entries, 1);
  }, DEFER_LONG));

test('deferred writes - a receipt waiting for its device\'s ack holds back neither the session\'s later sends nor anything else it writes', { timeout: 30_000 }, async () => {
  const t = await startTestNode({ config: DEFER_LONG });
  const appends = watchAppends(t);
  const relay = new FrameRelay(t.url);
  try {
    // Alice never sees (so never acks) a receipt: it stays parked, waiting for her ack.
    relay.onServerFrame = (f) => (f.kind === FrameKind.ReceiptNotice ? { replaceWith: { kind: FrameKind.Pong, rid: 0 } } : 'forward');
    const alice = await registerClient(await relay.start());
    const bob = await registerClient(t.url);
    const carol = await registerClient(t.url);
    const bobInbox = bob.client.messages()[Symbol.asyncIterator]();
    const carolInbox = carol.client.messages()[Symbol.asyncIterator]();

    const receiptAppended = once(appends, 'receipt');
    const sending = alice.client.send(bob.credentials.userId, text('hi bob')); // confirmed by bob's ack
    (await next(bobInbox)).ack();
    await sending;
    await receiptAppended; // bob's session made the receipt; it waits for alice's ack

    const reply = bob.client.send(carol.credentials.userId, text('hi carol'));
    (await next(carolInbox)).ack();
    await reply; // not held behind the receipt in bob's write chain
    assert.equal(rowsFor(t.dataDir, 'none').receiptKeys, 0, 'the receipt was still parked (never written) when the send completed');
  } finally {
    await relay.stop();
    await t.stop();
  }
});

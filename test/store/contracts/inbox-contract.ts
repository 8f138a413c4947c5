/**
 * The InboxStore contract, run unchanged against every adapter (SQLite now,
 * Cassandra later). Each test opens a fresh store through `open` and closes it.
 *
 * Usage in an adapter's test file:
 *   inboxContract('SqliteInboxStore (file)', async ({ retention }) => { … return { inbox, close } });
 *
 * `features.clockDrivenExpiry: false` skips the purge tests for backends that
 * expire rows by server-side TTL on the real clock (Cassandra), where a test
 * cannot move time forward. `features.reusedKeyWithoutResend` says what the
 * backend does with a stored key appended again without `resend` (the one
 * case where store/types.ts leaves the outcome to the backend).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  INBOX_CURSOR_START,
  INBOX_MAX_READ_LIMIT,
  type DeviceAddress,
  type InboxEntry,
  type InboxRetention,
  type InboxStore,
} from '../../../store/types.ts';
import { assertBytes, batch, bytes, device, newUserId, rejectsWith } from './helpers.ts';

export interface OpenedInbox {
  readonly inbox: InboxStore;
  close(): Promise<void>;
}

export interface InboxContractOptions {
  readonly retention: InboxRetention;
}

export interface InboxContractFeatures {
  /** purgeExpired(now) removes rows by the `now` it is given. @default true */
  readonly clockDrivenExpiry?: boolean;
  /**
   * A stored key appended again, later, without `resend`: 'duplicate' = the
   * store notices and returns the original result, storing nothing (SQLite);
   * 'stored-again' = the copies are stored a second time and the key then
   * names the newer ones (Cassandra). @default 'duplicate'
   */
  readonly reusedKeyWithoutResend?: 'duplicate' | 'stored-again';
}

const DEFAULT_TEST_RETENTION: InboxRetention = { inboxRetentionMs: 30 * 86_400_000, dedupRetentionMs: 7 * 86_400_000 };

async function readAll(inbox: InboxStore, d: DeviceAddress, pageSize = INBOX_MAX_READ_LIMIT): Promise<InboxEntry[]> {
  const out: InboxEntry[] = [];
  let cursor = INBOX_CURSOR_START;
  for (;;) {
    const page = await inbox.read(d, cursor, pageSize);
    out.push(...page);
    if (page.length < pageSize) return out;
    cursor = page[page.length - 1]!.id;
  }
}

function assertStrictlyIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `id ${ids[i - 1]} < ${ids[i]} at ${i}`);
}

export function inboxContract(
  name: string,
  open: (options: InboxContractOptions) => Promise<OpenedInbox>,
  features: InboxContractFeatures = {},
): void {
  /** Runs `body` against a fresh store and always closes it. */
  async function withInbox(body: (inbox: InboxStore) => Promise<void>, retention = DEFAULT_TEST_RETENTION): Promise<void> {
    const opened = await open({ retention });
    try {
      await body(opened.inbox);
    } finally {
      await opened.close();
    }
  }

  test(`${name} - order per device across many appends from interleaved senders`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 1);
      const a = device(newUserId(), 1);
      const b = device(newUserId(), 2);
      const appended: string[] = [];
      for (let i = 0; i < 150; i++) {
        const sender = i % 3 === 0 ? b : a;
        const res = await inbox.append(batch(sender, `m${i}`, [r]));
        assert.equal(res.duplicate, false);
        appended.push(res.copies[0]!.id);
      }
      assertStrictlyIncreasing(appended);
      const entries = await readAll(inbox, r);
      assert.deepEqual(entries.map((e) => e.id), appended, 'read order = append order');
      assert.deepEqual(entries.map((e) => e.clientMessageId), Array.from({ length: 150 }, (_, i) => `m${i}`));
      for (const e of entries) assert.ok(e.id > INBOX_CURSOR_START);
    }));

  test(`${name} - concurrent appends to one device get distinct ids and read back in id order`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 1);
      const senders = Array.from({ length: 5 }, () => device(newUserId(), 1));
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => inbox.append(batch(senders[i % 5]!, `c${i}`, [r]))),
      );
      const ids = results.map((x) => x.copies[0]!.id);
      assert.equal(new Set(ids).size, 40);
      const entries = await readAll(inbox, r);
      assert.deepEqual(entries.map((e) => e.id), [...ids].sort());
    }));

  test(`${name} - read returns metadata and payload as appended`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 3);
      const s = device(newUserId(), 2);
      await inbox.append(batch(s, 'rcpt-1', [r], { kind: 'receipt', serverTimestamp: 1234, payload: () => bytes(0, 255, 7) }));
      await inbox.append(batch(s, 'srv-1', [r], { kind: 'server', serverTimestamp: 1235, payload: () => new Uint8Array(0) }));
      const [e1, e2] = await inbox.read(r, INBOX_CURSOR_START, 10);
      assert.deepEqual({ ...e1!, payload: null }, { id: e1!.id, sender: s, clientMessageId: 'rcpt-1', kind: 'receipt', serverTimestamp: 1234, payload: null });
      assertBytes(e1!.payload, bytes(0, 255, 7));
      assert.equal(e2!.kind, 'server');
      assertBytes(e2!.payload, new Uint8Array(0));
    }));

  test(`${name} - cursor reads page strictly after the cursor`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 1);
      const s = device(newUserId(), 1);
      for (let i = 0; i < 23; i++) await inbox.append(batch(s, `p${i}`, [r]));
      const all = await inbox.read(r, INBOX_CURSOR_START, 100);
      assert.equal(all.length, 23);
      const paged = await readAll(inbox, r, 7);
      assert.deepEqual(paged.map((e) => e.id), all.map((e) => e.id));
      const after10 = await inbox.read(r, all[9]!.id, 5);
      assert.deepEqual(after10.map((e) => e.clientMessageId), ['p10', 'p11', 'p12', 'p13', 'p14']);
      assert.deepEqual(await inbox.read(r, all[22]!.id, 10), [], 'nothing after the last id');
      assert.equal((await inbox.read(r, INBOX_CURSOR_START, 1))[0]!.clientMessageId, 'p0');
      assert.equal(await inbox.count(r), 23, 'reading deletes nothing');
    }));

  test(`${name} - cumulative ack deletes exactly the entries up to the id and is idempotent`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 1);
      const other = device(r.userId, 2);
      const s = device(newUserId(), 1);
      for (let i = 0; i < 10; i++) await inbox.append(batch(s, `k${i}`, [r, other]));
      const all = await inbox.read(r, INBOX_CURSOR_START, 100);
      await inbox.ack(r, all[4]!.id);
      assert.equal(await inbox.count(r), 5);
      const left = await inbox.read(r, INBOX_CURSOR_START, 100);
      assert.deepEqual(left.map((e) => e.id), all.slice(5).map((e) => e.id));
      await inbox.ack(r, all[4]!.id);
      await inbox.ack(r, all[1]!.id);
      await inbox.ack(r, INBOX_CURSOR_START);
      assert.equal(await inbox.count(r), 5, 'repeating or lowering an ack changes nothing');
      assert.equal(await inbox.count(other), 10, "the other device's inbox is untouched");
      await inbox.ack(r, all[9]!.id);
      assert.equal(await inbox.count(r), 0);
      assert.deepEqual(await inbox.read(r, INBOX_CURSOR_START, 10), []);
    }));

  test(`${name} - ids are never reused after everything is acked`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 1);
      const s = device(newUserId(), 1);
      let last = INBOX_CURSOR_START;
      for (let i = 0; i < 3; i++) last = (await inbox.append(batch(s, `n${i}`, [r]))).copies[0]!.id;
      await inbox.ack(r, last);
      const next = (await inbox.append(batch(s, 'n3', [r]))).copies[0]!.id;
      assert.ok(next > last, `${next} > ${last}`);
      const fromClientCursor = await inbox.read(r, last, 10);
      assert.deepEqual(fromClientCursor.map((e) => e.clientMessageId), ['n3'], 'a remembered cursor does not skip the new entry');
    }));

  test(`${name} - a resend of a stored key returns the original result and stores nothing new`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const peer = newUserId();
      // the fan-out of one send: both devices of the peer plus the sender's other device
      const recipients = [device(peer, 1), device(peer, 2), device(sender.userId, 2)];
      // the first transmission carries no resend flag: the store may skip the lookup, yet records the key
      const first = await inbox.append(batch(sender, 'dup-1', recipients, { serverTimestamp: 5000 }));
      assert.equal(first.duplicate, false);
      assert.deepEqual(first.copies.map((c) => c.recipient), recipients);

      const retry = await inbox.append(
        batch(sender, 'dup-1', recipients, { serverTimestamp: 9999, payload: () => bytes(9, 9, 9), resend: true }),
      );
      assert.equal(retry.duplicate, true);
      assert.equal(retry.serverTimestamp, 5000, 'original server timestamp');
      assert.deepEqual(retry.copies, first.copies, 'original ids');
      for (const [i, r] of recipients.entries()) {
        const entries = await inbox.read(r, INBOX_CURSOR_START, 10);
        assert.equal(entries.length, 1, `one copy for recipient ${i}`);
        assertBytes(entries[0]!.payload, new TextEncoder().encode(`dup-1#${i}`), 'original payload kept');
      }

      // a resend after the recipient acked still stores nothing
      await inbox.ack(recipients[0]!, first.copies[0]!.id);
      const late = await inbox.append(batch(sender, 'dup-1', [recipients[0]!], { resend: true }));
      assert.equal(late.duplicate, true);
      assert.deepEqual(late.copies, first.copies);
      assert.equal(await inbox.count(recipients[0]!), 0);

      // the key is (sender user, sender device, client message id): a lookup of the others finds nothing
      const otherDevice = await inbox.append(batch(device(sender.userId, 3), 'dup-1', [recipients[0]!], { resend: true }));
      assert.equal(otherDevice.duplicate, false);
      const otherUser = await inbox.append(batch(device(newUserId(), 1), 'dup-1', [recipients[0]!], { resend: true }));
      assert.equal(otherUser.duplicate, false);
      assert.equal(await inbox.count(recipients[0]!), 2);
    }));

  test(`${name} - a batch with its own dedupKey keeps the message id on its entries and is found by that key only`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const peer = newUserId();
      const first = await inbox.append(batch(sender, 'm-7', [device(peer, 1)]));
      // the supplement of m-7 for a device added since: same message id, a key of its own
      const supplement = { ...batch(sender, 'm-7', [device(peer, 2)], { resend: true }), dedupKey: 'm-7\u0000+d2' };
      const added = await inbox.append(supplement);
      assert.equal(added.duplicate, false, 'not taken for a retransmission of m-7');
      const entries = await inbox.read(device(peer, 2), INBOX_CURSOR_START, 10);
      assert.deepEqual(entries.map((e) => e.clientMessageId), ['m-7'], 'the entry carries the message id');
      const again = await inbox.append(supplement);
      assert.equal(again.duplicate, true, 'its own key is found');
      assert.deepEqual(again.copies, added.copies);
      const original = await inbox.append(batch(sender, 'm-7', [device(peer, 1)], { resend: true }));
      assert.equal(original.duplicate, true);
      assert.deepEqual(original.copies, first.copies, 'the message id still names the original');
      assert.equal(await inbox.count(device(peer, 2)), 1);
      assert.equal(await inbox.count(device(peer, 1)), 1);
    }));

  test(`${name} - a first transmission stores; resend false is a first transmission; both record the key`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const r = device(newUserId(), 1);
      const plain = await inbox.append(batch(sender, 'first-1', [r]));
      const unflagged = await inbox.append(batch(sender, 'first-2', [r], { resend: false }));
      // a resend whose key was never stored (the first attempt failed before it): stored, not a duplicate
      const neverStored = await inbox.append(batch(sender, 'first-3', [r], { resend: true }));
      for (const res of [plain, unflagged, neverStored]) assert.equal(res.duplicate, false);
      assert.deepEqual((await readAll(inbox, r)).map((e) => e.clientMessageId), ['first-1', 'first-2', 'first-3']);
      for (const [key, original] of [['first-1', plain], ['first-2', unflagged], ['first-3', neverStored]] as const) {
        const again = await inbox.append(batch(sender, key, [r], { resend: true }));
        assert.equal(again.duplicate, true, `${key}: its key was recorded`);
        assert.deepEqual(again.copies, original.copies, `${key}: the original ids`);
      }
      assert.equal(await inbox.count(r), 3, 'the resends stored nothing');
    }));

  test(`${name} - concurrent appends of one key, flagged or not, store it once`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const recipients = [device(newUserId(), 1), device(newUserId(), 2)];
      const others = Array.from({ length: 4 }, (_, i) => inbox.append(batch(sender, `bystander-${i}`, recipients)));
      const results = await Promise.all([
        inbox.append(batch(sender, 'race', recipients)),
        inbox.append(batch(sender, 'race', recipients, { resend: true })),
        inbox.append(batch(sender, 'race', recipients)),
        inbox.append(batch(sender, 'race', recipients, { resend: true })),
      ]);
      assert.equal(results.filter((x) => !x.duplicate).length, 1, 'one of them stored it');
      for (const x of results) assert.deepEqual(x.copies, results.find((y) => !y.duplicate)!.copies, 'all name the same ids');
      for (const res of await Promise.all(others)) assert.equal(res.duplicate, false, 'the other sends of the group are untouched');
      for (const d of recipients) {
        const entries = await readAll(inbox, d);
        assert.equal(entries.filter((e) => e.clientMessageId === 'race').length, 1, 'one copy per device');
        assert.equal(entries.length, 5);
        assertStrictlyIncreasing(entries.map((e) => e.id));
      }
    }));

  const reused = features.reusedKeyWithoutResend ?? 'duplicate';
  test(`${name} - a stored key appended again without resend: ${reused}, and no entry lost or corrupted`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const recipients = [device(newUserId(), 1), device(newUserId(), 1)];
      const first = await inbox.append(batch(sender, 'reused', recipients, { serverTimestamp: 5000 }));
      const again = await inbox.append(batch(sender, 'reused', recipients, { serverTimestamp: 6000, payload: () => bytes(7, 7) }));
      const after = await inbox.append(batch(sender, 'after', recipients));
      const entries = await Promise.all(recipients.map((d) => readAll(inbox, d)));
      if (reused === 'duplicate') {
        assert.deepEqual(again, { ...first, duplicate: true }, 'the original result');
        for (const [i, e] of entries.entries()) {
          assert.deepEqual(e.map((x) => x.id), [first.copies[i]!.id, after.copies[i]!.id], 'nothing new stored');
          assertBytes(e[0]!.payload, new TextEncoder().encode(`reused#${i}`), 'original payload kept');
        }
      } else {
        assert.equal(again.duplicate, false);
        assert.equal(again.serverTimestamp, 6000);
        for (const [i, e] of entries.entries()) {
          assert.deepEqual(e.map((x) => x.id), [first.copies[i]!.id, again.copies[i]!.id, after.copies[i]!.id], 'both copies, whole, in order');
          assertBytes(e[0]!.payload, new TextEncoder().encode(`reused#${i}`), 'the first copy untouched');
          assertBytes(e[1]!.payload, bytes(7, 7));
        }
      }
      // either way the key names copies that exist: a resend returns them
      const resent = await inbox.append(batch(sender, 'reused', recipients, { resend: true }));
      assert.equal(resent.duplicate, true);
      assert.deepEqual(resent.copies, (reused === 'duplicate' ? first : again).copies);
      assert.equal(await inbox.count(recipients[0]!), reused === 'duplicate' ? 2 : 3);
    }));

  test(`${name} - a batch with an invalid last copy stores nothing and records no dedup key`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const u = newUserId();
      const good = [device(u, 1), device(u, 2)];
      const valid = batch(sender, 'atomic-1', good);
      const badRecipient = { ...valid, copies: [...valid.copies, { recipient: device(u, 0), payload: bytes(1) }] };
      await rejectsWith(inbox.append(badRecipient), 'PARLEY_ERR_STORE_INVALID_INPUT');
      const badPayload = batch(sender, 'atomic-1', [...good, device(u, 3)]);
      const copies = [...badPayload.copies];
      copies[2] = { recipient: device(u, 3), payload: 'not bytes' as unknown as Uint8Array };
      await rejectsWith(inbox.append({ ...badPayload, copies }), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(inbox.append(batch(sender, 'atomic-1', [good[0]!, good[1]!, good[0]!])), 'PARLEY_ERR_STORE_INVALID_INPUT');
      for (const d of good) assert.equal(await inbox.count(d), 0);

      const ok = await inbox.append(batch(sender, 'atomic-1', good, { resend: true }));
      assert.equal(ok.duplicate, false, 'the failed attempts left no dedup key behind');
      for (const d of good) assert.equal(await inbox.count(d), 1);
    }));

  test(`${name} - devices are isolated from each other`, () =>
    withInbox(async (inbox) => {
      const u1 = newUserId();
      const u2 = newUserId();
      const d11 = device(u1, 1);
      const d12 = device(u1, 2);
      const d21 = device(u2, 1);
      const s = device(newUserId(), 1);
      await inbox.append(batch(s, 'i1', [d11]));
      await inbox.append(batch(s, 'i2', [d12, d21]));
      await inbox.append(batch(s, 'i3', [d21]));
      assert.deepEqual((await readAll(inbox, d11)).map((e) => e.clientMessageId), ['i1']);
      assert.deepEqual((await readAll(inbox, d12)).map((e) => e.clientMessageId), ['i2']);
      assert.deepEqual((await readAll(inbox, d21)).map((e) => e.clientMessageId), ['i2', 'i3']);
      const last21 = (await readAll(inbox, d21)).at(-1)!.id;
      await inbox.ack(d21, last21);
      assert.equal(await inbox.count(d21), 0);
      assert.equal(await inbox.count(d11), 1);
      assert.equal(await inbox.count(d12), 1);
      assert.equal(await inbox.count(device(newUserId(), 1)), 0, 'unknown device has an empty inbox');
    }));

  test(`${name} - 64 KiB payloads round-trip byte-exact`, () =>
    withInbox(async (inbox) => {
      const u = newUserId();
      const recipients = [device(u, 1), device(u, 2)];
      const payloads = [randomBytes(64 * 1024), randomBytes(64 * 1024)];
      payloads[1]![0] = 0;
      payloads[1]![payloads[1]!.length - 1] = 0;
      await inbox.append(batch(device(newUserId(), 1), 'big', recipients, { payload: (i) => payloads[i]! }));
      for (const [i, r] of recipients.entries()) {
        const [entry] = await inbox.read(r, INBOX_CURSOR_START, 1);
        assertBytes(entry!.payload, payloads[i]!);
      }
    }));

  test(`${name} - invalid arguments reject with PARLEY_ERR_STORE_INVALID_INPUT`, () =>
    withInbox(async (inbox) => {
      const r = device(newUserId(), 1);
      const s = device(newUserId(), 1);
      const code = 'PARLEY_ERR_STORE_INVALID_INPUT';
      await rejectsWith(inbox.read(r, INBOX_CURSOR_START, 0), code);
      await rejectsWith(inbox.read(r, INBOX_CURSOR_START, INBOX_MAX_READ_LIMIT + 1), code);
      await rejectsWith(inbox.read(r, 'not-an-id', 10), code);
      await rejectsWith(inbox.ack(r, 'not-an-id'), code);
      await rejectsWith(inbox.read(device('not-a-uuid', 1), INBOX_CURSOR_START, 10), code);
      await rejectsWith(inbox.count(device(r.userId, 0)), code);
      await rejectsWith(inbox.append(batch(s, 'x', [])), code);
      await rejectsWith(inbox.append(batch(s, '', [r])), code);
      await rejectsWith(inbox.append(batch(s, 'x'.repeat(129), [r])), code);
      await rejectsWith(inbox.append(batch(s, 'x', [r], { kind: 'chat' as 'message' })), code);
      await rejectsWith(inbox.append(batch(s, 'x', [r], { serverTimestamp: -1 })), code);
      await rejectsWith(inbox.append(batch(s, 'x', [r], { resend: 'yes' as unknown as boolean })), code);
      await rejectsWith(inbox.append(batch(s, 'x', [r], { resend: 1 as unknown as boolean })), code);
      await rejectsWith(inbox.append(batch(s, 'x', [r], { resend: null as unknown as boolean })), code);
      assert.equal(await inbox.count(r), 0);
    }));

  test(`${name} - a closed store rejects with PARLEY_ERR_STORE_UNAVAILABLE`, async () => {
    const opened = await open({ retention: DEFAULT_TEST_RETENTION });
    await opened.close();
    await opened.close(); // idempotent
    const r = device(newUserId(), 1);
    await rejectsWith(opened.inbox.count(r), 'PARLEY_ERR_STORE_UNAVAILABLE');
    await rejectsWith(opened.inbox.append(batch(device(newUserId(), 1), 'after-close', [r])), 'PARLEY_ERR_STORE_UNAVAILABLE');
  });

  const expiry = features.clockDrivenExpiry ?? true;
  const skip = expiry ? false : 'backend expires by server-side TTL on the real clock';

  test(`${name} - purgeExpired drops dedup keys and entries at their retention`, { skip }, () =>
    withInbox(
      async (inbox) => {
        const r = device(newUserId(), 1);
        const s = device(newUserId(), 1);
        await inbox.append(batch(s, 'old', [r], { serverTimestamp: 10_000 }));
        assert.deepEqual(await inbox.purgeExpired(10_099), { entries: 0, dedupKeys: 0 });
        assert.equal((await inbox.append(batch(s, 'old', [r], { serverTimestamp: 10_050, resend: true }))).duplicate, true);

        assert.deepEqual(await inbox.purgeExpired(10_100), { entries: 0, dedupKeys: 1 });
        assert.equal(await inbox.count(r), 1, 'an unacked entry outlives its dedup key');
        const again = await inbox.append(batch(s, 'old', [r], { serverTimestamp: 10_500, resend: true }));
        assert.equal(again.duplicate, false, 'an expired key no longer de-duplicates');
        assert.equal(await inbox.count(r), 2);

        assert.deepEqual(await inbox.purgeExpired(10_999), { entries: 0, dedupKeys: 1 }, 'the second key (ts 10_500)');
        assert.deepEqual(await inbox.purgeExpired(11_000), { entries: 1, dedupKeys: 0 });
        const left = await inbox.read(r, INBOX_CURSOR_START, 10);
        assert.deepEqual(left.map((e) => e.serverTimestamp), [10_500]);
        assert.deepEqual(await inbox.purgeExpired(11_500), { entries: 1, dedupKeys: 0 });
        assert.equal(await inbox.count(r), 0);
      },
      { inboxRetentionMs: 1000, dedupRetentionMs: 100 },
    ));

  test(`${name} - purgeExpired removes large backlogs completely`, { skip }, () =>
    withInbox(
      async (inbox) => {
        const u = newUserId();
        const recipients = Array.from({ length: 10 }, (_, i) => device(u, i + 1));
        const s = device(newUserId(), 1);
        for (let i = 0; i < 700; i++) {
          await inbox.append(batch(s, `bulk${i}`, recipients, { serverTimestamp: 1000 + i, payload: () => bytes(i & 255) }));
        }
        const keep = await inbox.append(batch(s, 'keep', [recipients[0]!], { serverTimestamp: 5000 }));
        const purged = await inbox.purgeExpired(1000 + 699 + 1000);
        assert.deepEqual(purged, { entries: 7000, dedupKeys: 700 });
        assert.deepEqual((await inbox.read(recipients[0]!, INBOX_CURSOR_START, 10)).map((e) => e.id), [keep.copies[0]!.id]);
        for (const d of recipients.slice(1)) assert.equal(await inbox.count(d), 0);
      },
      { inboxRetentionMs: 1000, dedupRetentionMs: 1000 },
    ));
}

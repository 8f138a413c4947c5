/**
 * The InboxStore contract, run unchanged against every adapter (SQLite now,
 * Cassandra later). Each test opens a fresh store through `open` and closes it.
 *
 * Usage in an adapter's test file:
 *   inboxContract('SqliteInboxStore (file)', async ({ retention }) => { … return { inbox, close } });
 *
 * `features.clockDrivenExpiry: false` skips the purge tests for backends that
 * expire rows by server-side TTL on the real clock (Cassandra), where a test
 * cannot move time forward.
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

  test(`${name} - dedup key returns the original result and stores nothing new`, () =>
    withInbox(async (inbox) => {
      const sender = device(newUserId(), 1);
      const peer = newUserId();
      // the fan-out of one send: both devices of the peer plus the sender's other device
      const recipients = [device(peer, 1), device(peer, 2), device(sender.userId, 2)];
      const first = await inbox.append(batch(sender, 'dup-1', recipients, { serverTimestamp: 5000 }));
      assert.equal(first.duplicate, false);
      assert.deepEqual(first.copies.map((c) => c.recipient), recipients);

      const retry = await inbox.append(
        batch(sender, 'dup-1', recipients, { serverTimestamp: 9999, payload: () => bytes(9, 9, 9) }),
      );
      assert.equal(retry.duplicate, true);
      assert.equal(retry.serverTimestamp, 5000, 'original server timestamp');
      assert.deepEqual(retry.copies, first.copies, 'original ids');
      for (const [i, r] of recipients.entries()) {
        const entries = await inbox.read(r, INBOX_CURSOR_START, 10);
        assert.equal(entries.length, 1, `one copy for recipient ${i}`);
        assertBytes(entries[0]!.payload, new TextEncoder().encode(`dup-1#${i}`), 'original payload kept');
      }

      // a retry after the recipient acked still stores nothing
      await inbox.ack(recipients[0]!, first.copies[0]!.id);
      const late = await inbox.append(batch(sender, 'dup-1', [recipients[0]!]));
      assert.equal(late.duplicate, true);
      assert.deepEqual(late.copies, first.copies);
      assert.equal(await inbox.count(recipients[0]!), 0);

      // the key is (sender user, sender device, client message id)
      const otherDevice = await inbox.append(batch(device(sender.userId, 3), 'dup-1', [recipients[0]!]));
      assert.equal(otherDevice.duplicate, false);
      const otherUser = await inbox.append(batch(device(newUserId(), 1), 'dup-1', [recipients[0]!]));
      assert.equal(otherUser.duplicate, false);
      assert.equal(await inbox.count(recipients[0]!), 2);
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

      const ok = await inbox.append(batch(sender, 'atomic-1', good));
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
        assert.equal((await inbox.append(batch(s, 'old', [r], { serverTimestamp: 10_050 }))).duplicate, true);

        assert.deepEqual(await inbox.purgeExpired(10_100), { entries: 0, dedupKeys: 1 });
        assert.equal(await inbox.count(r), 1, 'an unacked entry outlives its dedup key');
        const again = await inbox.append(batch(s, 'old', [r], { serverTimestamp: 10_500 }));
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

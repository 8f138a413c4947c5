/**
 * The PresenceStore contract, run unchanged against every adapter (memory and
 * Redis). Each test opens a fresh store through `open` and closes it.
 *
 * `expire(userId)` resolves once the user's entry has run out its TTL: the
 * memory adapter moves its clock; Redis waits for the key's expiry event.
 * `advance(ms)` (clock-driven backends only) moves time without expiring
 * everything, for the heartbeat-refresh case; without it that test is skipped
 * and the adapter's own tests cover refresh.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PresenceStore } from '../../../store/types.ts';
import { newUserId, rejectsWith } from './helpers.ts';

export interface OpenedPresence {
  readonly presence: PresenceStore;
  /** Resolves once `userId`'s entry (touched and flushed before) has expired. */
  expire(userId: string): Promise<void>;
  /** Moves the store's clock forward (clock-driven backends). */
  readonly advance?: (ms: number) => void;
  close(): Promise<void>;
}

export interface PresenceContractOptions {
  /** TTL the store must use; short in the expiry tests so Redis expires keys quickly. */
  readonly ttlMs: number;
}

const LONG_TTL = 60_000;

export function presenceContract(name: string, open: (options: PresenceContractOptions) => Promise<OpenedPresence>): void {
  async function withPresence(ttlMs: number, body: (opened: OpenedPresence) => Promise<void>): Promise<void> {
    const opened = await open({ ttlMs });
    try {
      await body(opened);
    } finally {
      await opened.close();
    }
  }

  test(`${name} - a touched user is online after flush; an unknown user is offline`, () =>
    withPresence(LONG_TTL, async ({ presence }) => {
      const u = newUserId();
      assert.equal(await presence.isOnline(u), false);
      presence.touch(u);
      await presence.flush();
      assert.equal(await presence.isOnline(u), true);
      assert.equal(await presence.isOnline(newUserId()), false);
    }));

  test(`${name} - onlineMany returns exactly the online subset`, () =>
    withPresence(LONG_TTL, async ({ presence }) => {
      const users = Array.from({ length: 10 }, () => newUserId());
      for (const u of users.filter((_, i) => i % 3 === 0)) presence.touch(u);
      await presence.flush();
      assert.deepEqual(await presence.onlineMany(users), new Set(users.filter((_, i) => i % 3 === 0)));
      assert.deepEqual(await presence.onlineMany([]), new Set());
      assert.deepEqual(await presence.onlineMany([users[0]!, users[0]!, users[1]!]), new Set([users[0]!]));
    }));

  test(`${name} - setOffline takes a user offline at once, also over a queued touch; a new touch brings them back`, () =>
    withPresence(LONG_TTL, async ({ presence }) => {
      const u = newUserId();
      const v = newUserId();
      presence.touch(u);
      await presence.flush();
      await presence.setOffline(u);
      assert.equal(await presence.isOnline(u), false);
      presence.touch(v); // queued, not flushed
      await presence.setOffline(v);
      await presence.flush();
      assert.equal(await presence.isOnline(v), false, 'the queued touch does not resurrect v');
      presence.touch(u);
      await presence.flush();
      assert.equal(await presence.isOnline(u), true);
      await presence.setOffline(newUserId()); // unknown user: nothing to do
    }));

  test(`${name} - an entry that is not refreshed expires, and expiry means offline`, () =>
    withPresence(1000, async ({ presence, expire }) => {
      const u = newUserId();
      const stays = newUserId();
      presence.touch(u);
      await presence.flush();
      assert.equal(await presence.isOnline(u), true);
      await expire(u);
      presence.touch(stays);
      await presence.flush();
      assert.equal(await presence.isOnline(u), false);
      assert.deepEqual(await presence.onlineMany([u, stays]), new Set([stays]));
    }));

  test(`${name} - a heartbeat within the TTL keeps the user online`, async (t) => {
    const opened = await open({ ttlMs: 30_000 });
    try {
      const { presence, advance } = opened;
      if (advance === undefined) {
        t.skip('no controllable clock; covered by the adapter tests');
        return;
      }
      const u = newUserId();
      presence.touch(u);
      await presence.flush();
      for (let beat = 0; beat < 5; beat++) {
        advance(15_000); // the 15 s heartbeat
        assert.equal(await presence.isOnline(u), true, `online at beat ${beat}`);
        presence.touch(u);
        await presence.flush();
      }
      advance(29_999);
      assert.equal(await presence.isOnline(u), true);
      advance(1);
      assert.equal(await presence.isOnline(u), false, 'offline exactly one TTL after the last heartbeat');
    } finally {
      await opened.close();
    }
  });

  test(`${name} - invalid user ids reject with PARLEY_ERR_STORE_INVALID_INPUT`, () =>
    withPresence(LONG_TTL, async ({ presence }) => {
      assert.throws(() => presence.touch('not-a-uuid'), (err: unknown) => (err as { code?: string }).code === 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(presence.isOnline('x'), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(presence.onlineMany([newUserId(), 'x']), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(presence.setOffline('x'), 'PARLEY_ERR_STORE_INVALID_INPUT');
    }));

  test(`${name} - a closed store rejects with PARLEY_ERR_STORE_UNAVAILABLE`, async () => {
    const opened = await open({ ttlMs: LONG_TTL });
    await opened.close();
    await opened.close(); // idempotent
    await rejectsWith(opened.presence.isOnline(newUserId()), 'PARLEY_ERR_STORE_UNAVAILABLE');
    await rejectsWith(opened.presence.flush(), 'PARLEY_ERR_STORE_UNAVAILABLE');
  });
}

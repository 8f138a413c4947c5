/**
 * The PresenceStore contract against MemoryPresenceStore (injected clock) and
 * RedisPresenceStore (the shared Redis of PARLEY_REDIS_URL, keys under a
 * per-run prefix; expiry observed through keyspace expiry events, never by
 * sleeping), plus what only Redis has: batched pipelines, the flush timer,
 * and recovery after a Redis restart (on a redis-server this file owns).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { serviceSettings } from '../../scripts/services.ts';
import { MemoryPresenceStore } from '../../store/embedded/memory-presence-store.ts';
import { isStoreError } from '../../store/errors.ts';
import { openRedisPresence, type RedisPresenceOptions } from '../../store/redis/index.ts';
import { newUserId, rejectsWith } from './contracts/helpers.ts';
import { presenceContract } from './contracts/presence-contract.ts';
import { OwnRedisServer } from './fixtures/redis-server.ts';

const sharedUrl = serviceSettings().redisUrl;
const keyPrefix = `parley-test-${randomBytes(6).toString('hex')}:`;

/** Expired keys seen on one Redis, and waiters for the next ones. */
class ExpiryWatch {
  private readonly seen = new Set<string>();
  private readonly waiters = new Map<string, () => void>();
  private readonly sub: Redis;

  constructor(url: string) {
    this.sub = new Redis(url, { lazyConnect: true });
    this.sub.on('message', (_channel: string, key: string) => {
      this.seen.add(key);
      this.waiters.get(key)?.();
    });
  }

  async start(): Promise<void> {
    await this.sub.connect();
    // add expiry events to whatever the server already notifies
    const admin = new Redis(this.sub.options.port!, this.sub.options.host!);
    const [, flags = ''] = (await admin.config('GET', 'notify-keyspace-events')) as string[];
    const wanted = new Set([...flags, 'E', 'x']);
    if (wanted.has('A')) wanted.delete('x');
    await admin.config('SET', 'notify-keyspace-events', [...wanted].join(''));
    admin.disconnect();
    await this.sub.subscribe('__keyevent@0__:expired');
  }

  expired(key: string): Promise<void> {
    if (this.seen.has(key)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(key, resolve));
  }

  stop(): void {
    this.sub.disconnect();
  }
}

// ---------------------------------------------------------------------------

presenceContract('MemoryPresenceStore', async ({ ttlMs }) => {
  let now = 1_700_000_000_000;
  const presence = new MemoryPresenceStore({ ttlMs, now: () => now });
  return {
    presence,
    async expire() {
      now += ttlMs;
    },
    advance(ms) {
      now += ms;
    },
    close: () => presence.close(),
  };
});

const watch = new ExpiryWatch(sharedUrl);
before(() => watch.start());
after(async () => {
  watch.stop();
  const r = new Redis(sharedUrl);
  const keys = await r.keys(`${keyPrefix}*`);
  if (keys.length > 0) await r.del(...keys);
  r.disconnect();
});

presenceContract('RedisPresenceStore', async ({ ttlMs }) => {
  const opened = await openRedisPresence({ url: sharedUrl, ttlMs, keyPrefix, flushIntervalMs: 20 });
  return {
    presence: opened.presence,
    expire: (userId) => watch.expired(opened.presence.key(userId)),
    close: () => opened.close(),
  };
});

test('RedisPresenceStore - touches of one interval go out as ONE pipeline, each key once', async () => {
  const opened = await openRedisPresence({ url: sharedUrl, keyPrefix, flushIntervalMs: 60_000 });
  try {
    const { presence } = opened;
    const users = Array.from({ length: 300 }, () => newUserId());
    for (const u of users) presence.touch(u);
    for (const u of users.slice(0, 100)) presence.touch(u); // a second heartbeat in the same interval
    await presence.flush();
    assert.deepEqual(presence.stats, { flushes: 1, written: 300, failedFlushes: 0 });
    assert.equal((await presence.onlineMany(users)).size, 300);
    await presence.flush();
    assert.equal(presence.stats.flushes, 1, 'nothing pending, nothing sent');
  } finally {
    await opened.close();
  }
});

test('RedisPresenceStore - the flush timer writes touches by itself, and a touch resets the TTL', async () => {
  const opened = await openRedisPresence({ url: sharedUrl, keyPrefix, flushIntervalMs: 10, ttlMs: 30_000 });
  try {
    const { presence, redis } = opened;
    const u = newUserId();
    presence.touch(u);
    // bounded condition wait on the timer's flush (no explicit flush call)
    for (const deadline = Date.now() + 10_000; presence.stats.written < 1; ) {
      assert.ok(Date.now() < deadline, 'the timer flushed');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await presence.isOnline(u), true);
    const ttl = await redis.pttl(presence.key(u));
    assert.ok(ttl > 0 && ttl <= 30_000, `key has the presence TTL (${ttl})`);
    await redis.pexpire(presence.key(u), 5_000); // as if the last heartbeat were 25 s ago
    presence.touch(u);
    await presence.flush();
    assert.ok((await redis.pttl(presence.key(u))) > 5_000, 'the heartbeat reset the TTL');
  } finally {
    await opened.close();
  }
});

test('RedisPresenceStore - unreachable Redis at open rejects PARLEY_ERR_STORE_UNAVAILABLE', async () => {
  const server = new OwnRedisServer();
  await server.start();
  await server.stop(); // the port is now closed
  await rejectsWith(openRedisPresence({ url: server.url, keyPrefix }), 'PARLEY_ERR_STORE_UNAVAILABLE');
});

test('RedisPresenceStore - Redis restarted mid-use: reads fail retryable, then presence recovers by itself within one heartbeat', async () => {
  const server = new OwnRedisServer();
  await server.start();
  const flushErrors: unknown[] = [];
  const options: RedisPresenceOptions = { url: server.url, keyPrefix, flushIntervalMs: 20, reconnectMaxDelayMs: 100, onFlushError: (e) => flushErrors.push(e) };
  const opened = await openRedisPresence(options);
  try {
    const { presence, redis } = opened;
    const online = newUserId();
    presence.touch(online);
    await presence.flush();
    assert.equal(await presence.isOnline(online), true);

    await server.stop();
    await assert.rejects(presence.isOnline(online), (err: unknown) => isStoreError(err, 'PARLEY_ERR_STORE_UNAVAILABLE') && err.retryable);
    const duringOutage = newUserId();
    presence.touch(duringOutage); // a heartbeat while Redis is down
    await rejectsWith(presence.flush(), 'PARLEY_ERR_STORE_UNAVAILABLE');

    const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    await server.start(); // same port, empty: every key is gone
    await ready;
    // the queued touch is written by the flush timer with no new call (bounded condition wait)
    for (const deadline = Date.now() + 10_000; !(await presence.isOnline(duringOutage).catch(() => false)); ) {
      assert.ok(Date.now() < deadline, 'the touch queued during the outage was written after reconnect');
      await new Promise((r) => setTimeout(r, 10));
    }
    // a user whose key died with the old server is back after their next heartbeat
    assert.equal(await presence.isOnline(online), false);
    presence.touch(online);
    await presence.flush();
    assert.deepEqual(await presence.onlineMany([online, duringOutage]), new Set([online, duringOutage]));
    for (const e of flushErrors) assert.ok(isStoreError(e, 'PARLEY_ERR_STORE_UNAVAILABLE'), 'background failures are reported as UNAVAILABLE');
  } finally {
    await opened.close();
    await server.stop();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { serviceSettings } from '../../scripts/services.ts';

test('redis - a key with a TTL expires on its own (keyspace expiry event)', async () => {
  const url = serviceSettings().redisUrl;
  const redis = new Redis(url, { lazyConnect: true });
  const sub = new Redis(url, { lazyConnect: true });
  await redis.connect();
  await sub.connect();
  try {
    const key = `parley:smoke:${process.pid}:${Date.now()}`;
    // Expiry events let the test wait on the event itself, not on a sleep.
    await redis.config('SET', 'notify-keyspace-events', 'Ex');
    const expired = new Promise<string>((resolve) => {
      sub.on('message', (_channel: string, expiredKey: string) => {
        if (expiredKey === key) resolve(expiredKey);
      });
    });
    await sub.subscribe('__keyevent@0__:expired');
    assert.equal(await redis.set(key, 'online', 'PX', 200), 'OK');
    assert.equal(await redis.get(key), 'online');
    const ttl = await redis.pttl(key);
    assert.ok(ttl > 0 && ttl <= 200, `TTL set (${ttl} ms)`);
    assert.equal(await expired, key);
    assert.equal(await redis.get(key), null);
    assert.equal(await redis.exists(key), 0);
  } finally {
    sub.disconnect();
    redis.disconnect();
  }
});

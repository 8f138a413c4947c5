/**
 * `openRedisPresence`: one ioredis connection and the RedisPresenceStore.
 *
 * Client settings and why: no offline queue and one retry per request, so
 * calls fail fast (PARLEY_ERR_STORE_UNAVAILABLE) while Redis is down instead
 * of piling up; reconnection every 50 ms growing to `reconnectMaxDelayMs`,
 * forever, so presence comes back without anyone restarting the node.
 */
import { Redis } from 'ioredis';
import { StoreError } from '../errors.ts';
import { DEFAULT_REDIS_PRESENCE_SETTINGS, RedisPresenceStore, type RedisPresenceSettings } from './redis-presence-store.ts';

export interface RedisPresenceOptions extends RedisPresenceSettings {
  /** e.g. `redis://127.0.0.1:6379` (PARLEY_REDIS_URL). */
  readonly url: string;
  /** Longest pause between reconnection attempts. @default 1000 */
  readonly reconnectMaxDelayMs?: number;
  /** Connect timeout. @default 5000 */
  readonly connectTimeoutMs?: number;
}

export interface RedisPresence {
  readonly presence: RedisPresenceStore;
  readonly redis: Redis;
  /** Writes nothing more and disconnects; idempotent. Later calls reject PARLEY_ERR_STORE_UNAVAILABLE. */
  close(): Promise<void>;
}

export const DEFAULT_REDIS_PRESENCE_OPTIONS = { ...DEFAULT_REDIS_PRESENCE_SETTINGS, reconnectMaxDelayMs: 1000, connectTimeoutMs: 5000 } as const;

export async function openRedisPresence(options: RedisPresenceOptions): Promise<RedisPresence> {
  const maxDelay = options.reconnectMaxDelayMs ?? DEFAULT_REDIS_PRESENCE_OPTIONS.reconnectMaxDelayMs;
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_REDIS_PRESENCE_OPTIONS.connectTimeoutMs,
    retryStrategy: (times) => Math.min(50 * times, maxDelay),
  });
  // connection errors surface through the calls that fail; without a listener ioredis logs each to stderr
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (cause) {
    redis.disconnect();
    throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `cannot connect to Redis at ${redactUrl(options.url)}`, { cause });
  }
  const presence = new RedisPresenceStore(redis, options);
  let closed = false;
  return {
    presence,
    redis,
    async close() {
      if (closed) return;
      closed = true;
      presence.markClosed();
      redis.disconnect();
    },
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

/**
 * PresenceStore on Redis: one key per user, `<prefix>presence:<userId>`, set
 * with `PX ttlMs` on every touch. Expiry means offline, so a node that dies
 * takes its users offline within one TTL with nothing left to clean up.
 *
 * Batching: `touch` adds the user to a pending set (a user touched twice in
 * one interval is written once); one timer per flush interval writes the set
 * as ONE pipeline of `SET … PX` commands. 100,000 connected users with 15 s
 * heartbeats are ~6,700 touches/s: one round trip per interval instead of one
 * per heartbeat. The interval (default 1 s) must stay well below
 * TTL − heartbeat (15 s), or a user could expire between heartbeat and write.
 *
 * Failure: the client fails fast while Redis is down (no offline queue), and
 * a failed flush puts its users back into the pending set, so the first
 * flush after Redis returns (ioredis reconnects by itself) re-creates every
 * key: presence recovers within one flush interval, before the next heartbeat.
 * Reads reject PARLEY_ERR_STORE_UNAVAILABLE meanwhile.
 *
 * Ordering: `setOffline` removes the user from the pending set and sends DEL
 * on the same connection as the pipelines, so a SET flushed just before it
 * cannot resurrect the user afterwards.
 */
import { Redis } from 'ioredis';
import { StoreError } from '../errors.ts';
import { DEFAULT_PRESENCE_SETTINGS, type PresenceStore, type UserId } from '../types.ts';
import { checkUserId } from '../validate.ts';

export interface RedisPresenceSettings {
  /** @default 30_000 */
  readonly ttlMs?: number;
  /** Longest a touch waits before it is written. @default 1000 */
  readonly flushIntervalMs?: number;
  /** Key prefix, so deployments (and test runs) can share a Redis. @default 'parley:' */
  readonly keyPrefix?: string;
  /** Flushes that failed in the background (the users stay queued). @default ignore: the next flush retries */
  readonly onFlushError?: (err: StoreError) => void;
}

export const DEFAULT_REDIS_PRESENCE_SETTINGS = {
  ttlMs: DEFAULT_PRESENCE_SETTINGS.ttlMs,
  flushIntervalMs: 1000,
  keyPrefix: 'parley:',
} as const;

/** Counters for tests and metrics. */
export interface RedisPresenceStats {
  /** Pipelines sent (one per flush with something to write). */
  readonly flushes: number;
  /** Keys written by those pipelines. */
  readonly written: number;
  readonly failedFlushes: number;
}

export class RedisPresenceStore implements PresenceStore {
  private readonly ttlMs: number;
  private readonly flushIntervalMs: number;
  private readonly prefix: string;
  private readonly onFlushError: (err: StoreError) => void;
  private pending = new Set<UserId>();
  /** Users set offline while a flush was in flight: a failed flush must not queue them again. */
  private offlineDuringFlush = new Set<UserId>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private closed = false;
  private counters = { flushes: 0, written: 0, failedFlushes: 0 };

  constructor(
    private readonly redis: Redis,
    settings: RedisPresenceSettings = {},
  ) {
    const d = DEFAULT_REDIS_PRESENCE_SETTINGS;
    this.ttlMs = settings.ttlMs ?? d.ttlMs;
    this.flushIntervalMs = settings.flushIntervalMs ?? d.flushIntervalMs;
    this.prefix = settings.keyPrefix ?? d.keyPrefix;
    this.onFlushError = settings.onFlushError ?? (() => {});
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs < 1) throw new StoreError('PARLEY_ERR_STORE_INVALID_INPUT', 'ttlMs: not a positive integer');
  }

  get stats(): RedisPresenceStats {
    return { ...this.counters };
  }

  /** The Redis key of a user's presence. */
  key(userId: UserId): string {
    return `${this.prefix}presence:${userId}`;
  }

  touch(userId: UserId): void {
    checkUserId('userId', userId);
    if (this.closed) return;
    this.pending.add(userId);
    this.timer ??= setTimeout(this.onTimer, this.flushIntervalMs);
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError('flush'));
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // one flush at a time: a later one waits, so writes stay in touch order
    const run = this.inFlight.catch(() => {}).then(() => this.writePending());
    this.inFlight = run;
    return run;
  }

  async isOnline(userId: UserId): Promise<boolean> {
    checkUserId('userId', userId);
    return (await this.call('isOnline', () => this.redis.exists(this.key(userId)))) === 1;
  }

  async onlineMany(userIds: readonly UserId[]): Promise<Set<UserId>> {
    for (const u of userIds) checkUserId('userIds[]', u);
    const out = new Set<UserId>();
    if (userIds.length === 0) return out;
    const values = await this.call('onlineMany', () => this.redis.mget(userIds.map((u) => this.key(u))));
    for (let i = 0; i < userIds.length; i++) if (values[i] !== null) out.add(userIds[i]!);
    return out;
  }

  async setOffline(userId: UserId): Promise<void> {
    checkUserId('userId', userId);
    this.pending.delete(userId);
    this.offlineDuringFlush.add(userId);
    await this.call('setOffline', () => this.redis.del(this.key(userId)));
  }

  /** Stops the timer and drops queued touches (the keys expire by themselves). */
  markClosed(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush().catch((err: unknown) => this.onFlushError(err as StoreError));
  };

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) return;
    const users = this.pending;
    this.pending = new Set();
    this.offlineDuringFlush.clear();
    const pipeline = this.redis.pipeline();
    for (const u of users) pipeline.set(this.key(u), '1', 'PX', this.ttlMs);
    this.counters.flushes++;
    try {
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err !== null)?.[0];
      if (results === null || failed) throw failed ?? new Error('pipeline discarded');
      this.counters.written += users.size;
    } catch (err) {
      this.counters.failedFlushes++;
      // keep them for the next flush, unless they went offline meanwhile (setOffline removed them from pending only)
      if (!this.closed) {
        for (const u of users) if (!this.offlineDuringFlush.has(u)) this.pending.add(u);
        this.timer ??= setTimeout(this.onTimer, this.flushIntervalMs);
      }
      throw this.unavailable('flush', err);
    }
  }

  private async call<T>(operation: string, body: () => Promise<T>): Promise<T> {
    if (this.closed) throw this.closedError(operation);
    try {
      return await body();
    } catch (err) {
      throw this.unavailable(operation, err);
    }
  }

  private unavailable(operation: string, cause: unknown): StoreError {
    if (cause instanceof StoreError) return cause;
    return new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: Redis unavailable (${(cause as Error)?.message})`, {
      cause,
      details: { operation },
    });
  }

  private closedError(operation: string): StoreError {
    return new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: the presence store is closed`, { details: { operation } });
  }
}

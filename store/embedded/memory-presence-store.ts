/**
 * PresenceStore in memory: the embedded single node's default. A map of
 * user → expiry time on an injectable clock, so tests move time instead of
 * waiting. Expired entries are dropped lazily on read and by a sweep that
 * runs at most once per TTL from `touch`, so the map never outgrows the users
 * seen online in the last two TTLs, with no timer to stop.
 */
import { StoreError } from '../errors.ts';
import { DEFAULT_PRESENCE_SETTINGS, type PresenceSettings, type PresenceStore, type UserId } from '../types.ts';
import { checkTimestamp, checkUserId } from '../validate.ts';

export interface MemoryPresenceOptions extends Partial<PresenceSettings> {
  /** Clock (ms). @default Date.now */
  readonly now?: () => number;
}

export class MemoryPresenceStore implements PresenceStore {
  private readonly expiresAt = new Map<UserId, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private lastSweep: number;
  private closed = false;

  constructor(options: MemoryPresenceOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_SETTINGS.ttlMs;
    checkTimestamp('ttlMs', this.ttlMs);
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  touch(userId: UserId): void {
    checkUserId('userId', userId);
    if (this.closed) return;
    const now = this.now();
    this.expiresAt.set(userId, now + this.ttlMs);
    if (now - this.lastSweep >= this.ttlMs) this.sweep(now);
  }

  async flush(): Promise<void> {
    this.checkOpen('flush');
  }

  async isOnline(userId: UserId): Promise<boolean> {
    checkUserId('userId', userId);
    this.checkOpen('isOnline');
    return this.online(userId, this.now());
  }

  async onlineMany(userIds: readonly UserId[]): Promise<Set<UserId>> {
    for (const u of userIds) checkUserId('userIds[]', u);
    this.checkOpen('onlineMany');
    const now = this.now();
    const out = new Set<UserId>();
    for (const u of userIds) if (this.online(u, now)) out.add(u);
    return out;
  }

  async setOffline(userId: UserId): Promise<void> {
    checkUserId('userId', userId);
    this.checkOpen('setOffline');
    this.expiresAt.delete(userId);
  }

  /** Drops everything; later calls reject PARLEY_ERR_STORE_UNAVAILABLE. */
  async close(): Promise<void> {
    this.closed = true;
    this.expiresAt.clear();
  }

  private online(userId: UserId, now: number): boolean {
    const at = this.expiresAt.get(userId);
    if (at === undefined) return false;
    if (at > now) return true;
    this.expiresAt.delete(userId);
    return false;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [u, at] of this.expiresAt) if (at <= now) this.expiresAt.delete(u);
  }

  private checkOpen(operation: string): void {
    if (this.closed) throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: the presence store is closed`, { details: { operation } });
  }
}

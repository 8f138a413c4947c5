/**
 * Devices of each user, cached in front of the AccountStore: every send needs
 * the recipient's device list (fan-out, mismatched-device check), so it must
 * not cost a store round trip per message. Entries expire after `ttlMs` and
 * are dropped at once when this node adds or removes a device; a stale entry
 * can only make a send fail with mismatched-devices, which the client
 * corrects, never deliver to a removed device (the store refuses the copy's
 * recipient lookups later on login).
 */
import { isParleyError } from '../protocol/errors.ts';
import type { AccountStore, Device, DeviceAddress, UserId } from '../store/types.ts';

/**
 * A cached device, with its address as one shared object: every copy of a
 * message to it refers to that object rather than building its own (the
 * copies of messages never written are remembered for thousands of
 * messages, store/embedded/deferred-appends.ts).
 */
export interface DirectoryDevice extends Device {
  readonly address: DeviceAddress;
}

/** Options of the directory. */
export interface DeviceDirectoryOptions {
  /** How long a cached device list is trusted. @default 30000 */
  readonly ttlMs?: number;
  /** Most users cached; the oldest entry goes first. @default 100000 */
  readonly maxUsers?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Called by `invalidate` (a clustered node tells the other nodes to `forget` the user). */
  readonly onInvalidate?: (userId: UserId) => void;
}

interface CacheEntry {
  readonly devices: readonly DirectoryDevice[];
  readonly at: number;
}

/** Cached device lists of users. */
export class DeviceDirectory {
  private readonly cache = new Map<UserId, CacheEntry>();
  private readonly ttlMs: number;
  private readonly maxUsers: number;
  private readonly now: () => number;
  private readonly onInvalidate: ((userId: UserId) => void) | undefined;

  constructor(private readonly accounts: AccountStore, options: DeviceDirectoryOptions = {}) {
    this.onInvalidate = options.onInvalidate;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxUsers = options.maxUsers ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** The cached list, when fresh; no I/O. */
  cached(userId: UserId): readonly DirectoryDevice[] | undefined {
    const e = this.cache.get(userId);
    if (e === undefined) return undefined;
    if (this.now() - e.at > this.ttlMs) {
      this.cache.delete(userId);
      return undefined;
    }
    return e.devices;
  }

  /**
   * The user's devices; empty for an unknown user. A well-formed wire id that
   * the account store refuses as input (it keys users by UUID) names nobody:
   * an unknown user, not a store failure.
   */
  async devicesOf(userId: UserId): Promise<readonly DirectoryDevice[]> {
    const hit = this.cached(userId);
    if (hit !== undefined) return hit;
    let devices: DirectoryDevice[];
    try {
      devices = (await this.accounts.listDevices(userId)).map((d) => ({ ...d, address: { userId: d.userId, deviceId: d.deviceId } }));
    } catch (err) {
      if (isParleyError(err) && err.code === 'PARLEY_ERR_STORE_INVALID_INPUT') return [];
      throw err;
    }
    if (this.cache.size >= this.maxUsers) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(userId, { devices, at: this.now() });
    return devices;
  }

  /** Forgets the user's list (after a device was added or removed here), and tells the other nodes. */
  invalidate(userId: UserId): void {
    this.cache.delete(userId);
    this.onInvalidate?.(userId);
  }

  /** Forgets the user's list (another node changed the user's devices). */
  forget(userId: UserId): void {
    this.cache.delete(userId);
  }
}

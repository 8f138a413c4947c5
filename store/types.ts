/**
 * Store ports: one interface per store, one implementation per backend
 * (`SqliteInboxStore`, later `CassandraInboxStore`, `PostgresAccountStore`).
 * Every method returns a Promise even where the backend is synchronous
 * (SQLite), so callers never change when the backend does.
 *
 * Errors: methods reject with `StoreError` (`store/errors.ts`) for every
 * failure the caller can act on (invalid input, not found, conflict,
 * unavailable). Anything else is a bug and propagates as is ("let it crash").
 *
 * Contract tests for every adapter: `test/store/contracts/`.
 */

/** Server-generated user id: a UUID string (RFC 4122, lower case). */
export type UserId = string;

/** Device id: a small positive integer, allocated per user by the AccountStore (1, 2, 3 …, never reused). */
export type DeviceId = number;

/** One device of one user: the address of an inbox and of a session. */
export interface DeviceAddress {
  readonly userId: UserId;
  readonly deviceId: DeviceId;
}

// ---------------------------------------------------------------------------
// AccountStore
// ---------------------------------------------------------------------------

/** A user account. */
export interface Account {
  readonly userId: UserId;
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number;
}

/** What a client registers for a new device. */
export interface NewDevice {
  /** Identity public key bytes (Signal: 33 bytes, 0x05 ‖ Curve25519). 1..256 bytes; unique across all devices. */
  readonly identityKey: Uint8Array;
  /** Signal registration id: integer 0..2^31-1. */
  readonly registrationId: number;
  /** Display name chosen by the client (may be ciphertext); at most 1,024 characters. */
  readonly name: string;
}

/** A registered device. */
export interface Device extends DeviceAddress {
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number;
}

/** Result of `AccountStore.addDevice`. */
export interface AddDeviceResult {
  readonly device: Device;
  /** false when the call was a retry of an earlier registration and returned the existing device. */
  readonly created: boolean;
}

/**
 * Users, their devices and identity keys, last seen.
 * Embedded: SQLite. At scale: PostgreSQL.
 *
 * Identity key rules (duplicate registration):
 * - An identity key belongs to at most one device in the whole system.
 * - `addDevice(u, {identityKey: k, registrationId: r})` when device (u, d) already
 *   has key k and registration id r returns that device with `created: false`:
 *   a client retrying a registration whose reply was lost gets its device back.
 * - Any other reuse of k (another user, or same user with another registration
 *   id) rejects with PARLEY_ERR_STORE_CONFLICT.
 * - `removeDevice` frees the key; its device id is never reused for that user,
 *   so peers' Signal sessions with the old device can never address the new one.
 */
export interface AccountStore {
  /** Creates an account with a fresh server-generated UUID. */
  createAccount(): Promise<Account>;
  getAccount(userId: UserId): Promise<Account | undefined>;
  /**
   * Registers a device; the store allocates the next device id of that user
   * (max ever allocated + 1). Rejects PARLEY_ERR_STORE_NOT_FOUND for an unknown
   * user, PARLEY_ERR_STORE_CONFLICT for a taken identity key (see above).
   */
  addDevice(userId: UserId, device: NewDevice): Promise<AddDeviceResult>;
  getDevice(address: DeviceAddress): Promise<Device | undefined>;
  /** The user's devices in device-id order; empty for an unknown user. */
  listDevices(userId: UserId): Promise<Device[]>;
  /** true if the device existed. The device's inbox is not touched (different store). */
  removeDevice(address: DeviceAddress): Promise<boolean>;
  /**
   * Records that the user was seen at `at` (ms since epoch), written on disconnect.
   * Never moves backwards: the stored value is max(stored, at), so late writes
   * from a slower node cannot regress it. PARLEY_ERR_STORE_NOT_FOUND for an unknown user.
   */
  setLastSeen(userId: UserId, at: number): Promise<void>;
  /** undefined when never set or unknown user. */
  getLastSeen(userId: UserId): Promise<number | undefined>;
}

// ---------------------------------------------------------------------------
// InboxStore
// ---------------------------------------------------------------------------

/**
 * Inbox entry id: an opaque string, assigned by the store.
 *
 * Contract (every backend):
 * - Within one recipient device, ids are unique and strictly increasing in
 *   commit order, compared with plain JavaScript string comparison (`<`).
 *   Reading in id order is arrival order.
 * - All ids of one backend have the same width, so string order is numeric order.
 * - Every id compares greater than `INBOX_CURSOR_START` (the empty string).
 * - Ids are never reused for a device, even after all its entries are acked,
 *   so a cursor a client remembers can never skip a later entry.
 * - Ids are not portable between backends (a migration maps them).
 *
 * SQLite: a global AUTOINCREMENT integer as 16 lower-case hex digits.
 * Cassandra (planned): the timeuuid clustering key re-encoded as 32 hex digits
 * in (timestamp, clock seq, node) order, so string order = timeuuid order.
 */
export type InboxEntryId = string;

/** A read cursor: an `InboxEntryId`, or `INBOX_CURSOR_START` to read from the beginning. */
export type InboxCursor = InboxEntryId;

/** The cursor before every entry. */
export const INBOX_CURSOR_START: InboxCursor = '';

/** The largest `limit` accepted by `InboxStore.read` (bounds memory: 1,000 × 64 KiB = 64 MiB). */
export const INBOX_MAX_READ_LIMIT = 1000;

/** What an inbox entry carries: a chat message, a receipt, or another small server envelope. */
export type InboxEntryKind = 'message' | 'receipt' | 'server';

/** One copy of a send, addressed to one recipient device. */
export interface InboxCopy {
  readonly recipient: DeviceAddress;
  /** Ciphertext (or an opaque server envelope). Never interpreted by the store. */
  readonly payload: Uint8Array;
}

/**
 * One accepted send: the copies for every recipient device (all devices of the
 * recipient user, plus the sender's other devices), stored all or none.
 */
export interface InboxBatch {
  readonly sender: DeviceAddress;
  /** Client-chosen id of the send; with `sender` it is the de-duplication key. 1..128 characters. */
  readonly clientMessageId: string;
  readonly kind: InboxEntryKind;
  /** Assigned by the server when it accepted the send (ms since epoch); also drives retention. */
  readonly serverTimestamp: number;
  /** At least one; each recipient device at most once. */
  readonly copies: readonly InboxCopy[];
  /**
   * The de-duplication key within the sender device when it is not
   * `clientMessageId`: a supplement of an accepted send (the copies for
   * devices the recipient added since, answered to a retransmission) keeps
   * the message's id on its entries under a key of its own. 1..256 characters.
   * @default clientMessageId
   */
  readonly dedupKey?: string;
  /**
   * Whether this may be a retransmission of a batch already stored (the
   * protocol's `send.resend`: the client did not see the outcome of an earlier
   * attempt; or the server retrying an append of its own, e.g. a receipt).
   *
   * - true: the store must look the de-duplication key up and, if it is
   *   stored, store nothing and return the original result (`duplicate: true`).
   * - absent/false: a first transmission. The store may skip that lookup (a
   *   round trip on Cassandra) and write at once. The key is still recorded,
   *   so a later retransmission finds it. If the key was stored after all (a
   *   client reusing an id without flagging it), the store never loses or
   *   corrupts an entry, but what it does is the backend's: SQLite notices
   *   when recording the key and returns the original result as a duplicate;
   *   Cassandra stores the copies again and the key then names the newer ones.
   */
  readonly resend?: boolean;
}

/** The id one copy received. */
export interface AppendedCopy {
  readonly recipient: DeviceAddress;
  readonly id: InboxEntryId;
}

/** Result of `InboxStore.append`. */
export interface AppendResult {
  /** true when the de-duplication key was already known: nothing was stored, the original result is returned. */
  readonly duplicate: boolean;
  /** The original send's server timestamp (the retry's own timestamp is ignored). */
  readonly serverTimestamp: number;
  /** One per copy of the original batch, in the original batch's order. */
  readonly copies: readonly AppendedCopy[];
}

/** One stored copy, as read back. */
export interface InboxEntry {
  readonly id: InboxEntryId;
  readonly sender: DeviceAddress;
  readonly clientMessageId: string;
  readonly kind: InboxEntryKind;
  readonly serverTimestamp: number;
  readonly payload: Uint8Array;
}

/** What `purgeExpired` removed. Backends that expire by TTL (Cassandra) report 0 and let TTL work. */
export interface PurgeResult {
  readonly entries: number;
  readonly dedupKeys: number;
}

/** Retention settings shared by every inbox adapter. */
export interface InboxRetention {
  /**
   * How long an unacknowledged entry waits for an offline device.
   * @default 2_592_000_000 (30 days)
   */
  readonly inboxRetentionMs: number;
  /**
   * How long a de-duplication key is remembered; a client retry older than
   * this is stored again. Must cover the client's retry horizon.
   * @default 604_800_000 (7 days)
   */
  readonly dedupRetentionMs: number;
}

export const DEFAULT_INBOX_RETENTION: InboxRetention = {
  inboxRetentionMs: 30 * 24 * 60 * 60 * 1000,
  dedupRetentionMs: 7 * 24 * 60 * 60 * 1000,
};

/**
 * The durable store-and-forward queue of each recipient device.
 * Embedded: SQLite. At scale: Cassandra, partition = recipient device,
 * clustered by id; acked by range delete.
 *
 * Guarantees: `append` is atomic (all copies or none) and durable when its
 * Promise resolves; ids follow the `InboxEntryId` contract; a batch flagged
 * `resend` whose (sender, clientMessageId) is already known stores nothing and
 * returns the original result (unflagged: see `InboxBatch.resend`).
 *
 * Acks are cumulative only. A device receives its inbox in id order over one
 * connection and processes it in that order, so "everything up to X" is all it
 * ever needs to say; out-of-order acks (`ackIds`) would turn every ack into a
 * point delete, one tombstone per message in Cassandra, for no gain.
 */
export interface InboxStore {
  /** Stores one accepted send atomically and durably, or returns the original result of a duplicate (see `InboxBatch.resend`). */
  append(batch: InboxBatch): Promise<AppendResult>;
  /** Entries of `device` with id > `after`, in id order, at most `limit` (1..INBOX_MAX_READ_LIMIT). */
  read(device: DeviceAddress, after: InboxCursor, limit: number): Promise<InboxEntry[]>;
  /** Deletes every entry of `device` with id ≤ `upTo` (one range delete). Idempotent. */
  ack(device: DeviceAddress, upTo: InboxEntryId): Promise<void>;
  /** Number of entries waiting for `device`. */
  count(device: DeviceAddress): Promise<number>;
  /**
   * Deletes entries with serverTimestamp ≤ now − inboxRetentionMs and dedup
   * keys with serverTimestamp ≤ now − dedupRetentionMs.
   */
  purgeExpired(now: number): Promise<PurgeResult>;
  /**
   * True when appends may be pipelined: they commit in call order, and a
   * retryable failure of one append fails every append issued after it until
   * the caller has been told of that failure (fail-stop). A sender may then
   * keep several appends in flight without a failed one being overtaken.
   * Absent/false: a caller that needs per-sender order waits for each append.
   */
  readonly pipelined?: boolean;
  /**
   * Present when several processes (cluster nodes) may append to one device
   * concurrently, so a device's entries may become visible out of id order
   * (absent: one writer, commit order = id order, cumulative `ack` is safe).
   */
  readonly multiWriter?: MultiWriterInbox;
  /**
   * Present on a single-writer pipelined store that assigns ids when an
   * append is called rather than when it commits (see `EarlyIds`): the
   * caller may announce an entry before it is durable.
   */
  readonly early?: EarlyIds;
}

/**
 * Appends whose ids are known when they are called. Ids are assigned in call
 * order, and appends that are not deferred settle (commit, or turn out to be
 * a duplicate, or fail) in that same order; `allSettled` writes the deferred
 * ones, after which a read sees every committed entry with an id up to the
 * ids handed out. An id handed out for an append that is not stored (a
 * duplicate, a failure) is not handed out again while the store is open, so
 * readers see gaps; after a restart ids go on above every stored one (an
 * unstored id above them may come again: nothing outside the process that
 * assigned it ever held it as a stored entry's id).
 */
export interface EarlyIds {
  /**
   * `InboxStore.append`, with the ids the copies will have if the batch is
   * stored (one per copy, in order). A batch invalid on its face throws here,
   * before any id is assigned. `stored` is `append`'s promise: its result
   * carries these ids, or the original ids of a duplicate.
   *
   * `defer`: every recipient device is online and being given its copy, so
   * the store may hold the write for a while (the embedded store: its
   * `deferMs`) and skip it if the devices acknowledge their copies first
   * (`received`, then `ack`). `stored` then settles when every copy is
   * acknowledged by its device or the write (if made by then) committed
   * (ARCHITECTURE §4: either makes the send safe), possibly before appends
   * called earlier.
   */
  append(batch: InboxBatch, options?: { readonly defer?: boolean }): { readonly ids: readonly InboxEntryId[]; readonly stored: Promise<AppendResult> };
  /**
   * `device` acknowledged its entries with ids ≤ `upTo` (they may not be
   * deleted yet: `ack` follows once their receipts are safe). Deferred
   * appends all of whose copies are acknowledged settle.
   */
  received(device: DeviceAddress, upTo: InboxEntryId): void;
  /**
   * Settles (never rejects) once every append called so far has settled;
   * deferred appends are written now (a read after this sees every entry a
   * device has not acknowledged). With `device`: only those with a copy for
   * it (and any deferred before them) need to be written: enough for a read
   * of that device's inbox.
   */
  allSettled(device?: DeviceAddress): Promise<void>;
  /** Writes deferred appends now and every later one at once (the node is stopping: no device will ack). */
  stopDeferring(): void;
}

/**
 * The inbox of a cluster: every node appends with its own sequencer, so an
 * entry minted earlier (smaller id) may commit after a larger one was read.
 * A reader therefore never range-deletes: it deletes exactly the entries its
 * device acked, and advances the stored cursor only below ids it verified.
 *
 * Guarantee: an append that succeeded was visible to reads by the time its
 * id is at or below `horizonCursor(now)` (an append whose writes took longer
 * than `horizonMs / 2` after minting is undone and rejected retryably), so a
 * read issued at time t sees every successful entry ≤ `horizonCursor(t)`.
 */
export interface MultiWriterInbox {
  /** Commit horizon (ms): every successful append is visible this long after its id was minted. */
  readonly horizonMs: number;
  /** The largest cursor such that every entry at or below it that will ever be visible already is (at `now`). */
  horizonCursor(now: number): InboxCursor;
  /**
   * Deletes exactly the entries `ids` of `device` (point deletes; entries not
   * named stay even if older) and raises the stored cursor to `cursor` (never
   * lowers it; reads then start above it). Idempotent.
   */
  ackIds(device: DeviceAddress, ids: readonly InboxEntryId[], cursor: InboxCursor): Promise<void>;
}

// ---------------------------------------------------------------------------
// PresenceStore
// ---------------------------------------------------------------------------

/** Presence settings shared by every presence adapter. */
export interface PresenceSettings {
  /**
   * How long a touch keeps a user online. Twice the heartbeat, so one lost
   * heartbeat does not flap the user offline.
   * @default 30_000
   */
  readonly ttlMs: number;
}

export const DEFAULT_PRESENCE_SETTINGS: PresenceSettings = { ttlMs: 30_000 };

/**
 * Who is online: one entry per user that expires `ttlMs` after its last
 * touch. Expiry means offline; nothing has to run when a node dies.
 * Embedded: in memory. At scale: Redis, one key per user with a TTL.
 *
 * The node calls `touch(userId)` on connect and on every heartbeat (15 s).
 * `touch` only queues: adapters with a network hop write queued touches in one
 * batch per flush interval (one pipeline for the whole node), so a heartbeat
 * never costs its own round trip. `flush()` writes the queue now (on connect,
 * when the caller needs the user visible at once; and in tests). A touch that
 * could not be written stays queued and is written by the next flush, so
 * presence recovers by itself once the backend is back.
 *
 * Errors: PARLEY_ERR_STORE_INVALID_INPUT for a malformed user id (thrown by
 * `touch` synchronously), PARLEY_ERR_STORE_UNAVAILABLE when the backend
 * cannot answer or the store is closed.
 */
export interface PresenceStore {
  /** Marks the user online for `ttlMs` from the next flush. Never rejects; see `flush`. */
  touch(userId: UserId): void;
  /** Writes every queued touch; resolves when they are stored. */
  flush(): Promise<void>;
  isOnline(userId: UserId): Promise<boolean>;
  /** The users of `userIds` that are online (one round trip). */
  onlineMany(userIds: readonly UserId[]): Promise<Set<UserId>>;
  /** Marks the user offline now (clean disconnect) and drops a queued touch of theirs. */
  setOffline(userId: UserId): Promise<void>;
}

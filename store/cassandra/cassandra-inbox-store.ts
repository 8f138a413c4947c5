/**
 * InboxStore on Cassandra (tables and their reasons: ./migrations.ts; id
 * encoding: ./inbox-id.ts; ordering: ./device-sequencer.ts).
 *
 * append(batch):
 *   1. validate the whole batch first (so "an invalid last copy stores nothing"
 *      needs no rollback), and join an append with the same dedup key that is
 *      already in flight in this process (whether or not it is flagged);
 *   2. only for a batch flagged `resend` (a retransmission): read the dedup
 *      row; if present, return the original result. A first transmission
 *      skips this round trip;
 *   3. lock every recipient device's sequencer (sorted), mint one id each;
 *   4. write the copies: one single-partition INSERT each (plus an
 *      `inbox_buckets` row the first time a device enters a bucket), handed
 *      to the store's WriteCoalescer (./write-coalescer.ts), which sends the
 *      rows of every append reaching this step in the same event-loop turn
 *      together, as UNLOGGED batches of at most `writeBatch.maxRows` rows and
 *      `maxBytes` estimated bytes (10 / 5 KiB by default) flushed at the end of
 *      the turn or when full;
 *   5. all written (every request carrying a copy succeeded, and in
 *      multi-writer mode within the commit deadline): insert the dedup row,
 *      coalesced the same way with the rows other appends issue in that turn,
 *      release the locks, resolve. A failed request fails every append with a
 *      row in it (each may or may not have landed): once every request
 *      carrying one of its copies has settled, each such append deletes every
 *      copy of its own (point deletes with a later write timestamp, so they
 *      also shadow an insert that lands late), releases, and rejects with the
 *      request's error (PARLEY_ERR_STORE_UNAVAILABLE when retryable).
 *
 * Why coalesce: each request costs the server (and the driver) work of its
 * own on top of the row's write path; with 1:1 messaging an append was two
 * requests (copy, dedup row). Measured on one node at 5,000 appends/s from 64
 * concurrent appenders: 0.38 requests per append instead of 2, 13-21% less
 * Cassandra CPU and 20-28% less client CPU. The per-row work (binding,
 * mutation, commit log, memtable) is unchanged and, judging by that, is most
 * of the server's cost. A batch spans partitions, so it is not routed token-aware: in a multi-node
 * cluster its coordinator forwards most rows to their replicas; the default
 * caps keep that fan-out, and a batch's exposure to one slow replica, small.
 * They also keep every batch under Cassandra's stock warning thresholds
 * (store/README.md).
 *
 * Why not a LOGGED batch of copies + dedup row: (a) the server rejects a
 * batch above `batch_size_fail_threshold` (50 KiB by default), and two 64 KiB
 * copies, or a group fan-out to hundreds of devices, are far above it; (b)
 * the batchlog replays a batch that timed out *later*, possibly after the
 * sequencer let the device's next append commit and the device ack past it,
 * which is exactly the lost-entry hazard the sequencer exists to prevent;
 * (c) it costs two extra batchlog writes per send. Single-partition writes
 * with compensation settle (or are shadowed) before the device's lock is
 * released. The price: all-or-none holds except when the node dies between
 * the copies and the dedup row, or the compensating delete itself fails;
 * then some devices keep a copy, the sender got no ack and retries, and those
 * devices see the message twice (same sender + client message id, which the
 * client SDK de-duplicates). It never loses a copy it acknowledged.
 *
 * The dedup row is written last, after every copy: a dedup row whose copies
 * never landed would make retries return ids that do not exist (loss). If
 * that last write fails, the copies stay and the append rejects; the retry
 * then finds the dedup row (if it landed after all) or stores again (duplicate).
 *
 * An unflagged batch whose key was stored after all (a client reusing a
 * message id without `resend`) is stored again: noticing it would take the
 * very read step 2 skips, or a lightweight transaction (Paxos, four round
 * trips). Its dedup row is an upsert, so the key then names the newer
 * copies; both sets of copies are whole and nothing is lost
 * (store/types.ts `InboxBatch.resend`).
 *
 * Multi-writer mode (`commitHorizonMs` set; a cluster, where every node runs
 * its own store and sequencer against one keyspace): the sequencer orders
 * only this process's appends, so a smaller id minted here may commit after
 * another node's larger id was read and acked, and a cumulative ack would
 * delete or skip it. The store then exposes `multiWriter` (store/types.ts
 * MultiWriterInbox): an append whose copies took longer than horizon/2 after
 * minting is undone and rejected retryably (so every successful entry is
 * visible once `horizonCursor(now)` passes its id, allowing horizon/2 of clock
 * skew between nodes), and the reader acks with point deletes (`ackIds`)
 * plus a cursor it verified below the horizon. The horizon must exceed twice
 * the clock skew between any two nodes.
 *
 * Every statement is idempotent (explicit primary keys, range deletes,
 * overwrites), so all run with `isIdempotent: true` and the driver may retry
 * or speculatively repeat them.
 */
import cassandra from 'cassandra-driver';
import { StoreError, invalidInput } from '../errors.ts';
import {
  DEFAULT_INBOX_RETENTION,
  type AppendResult,
  type AppendedCopy,
  type DeviceAddress,
  type InboxBatch,
  type InboxCursor,
  type InboxEntry,
  type InboxEntryId,
  type InboxEntryKind,
  type InboxRetention,
  type InboxStore,
  type MultiWriterInbox,
  type PurgeResult,
} from '../types.ts';
import { checkBatch, checkDeviceAddress, checkReadLimit, checkTimestamp } from '../validate.ts';
import { translateCassandraError } from './cassandra-errors.ts';
import { DeviceSequencer, DeviceSequencers, type DeviceState } from './device-sequencer.ts';
import { checkInboxId, encodeInboxId, idOfTimeuuid, lowestIdAt, msOfTicks, randomIdTail, ticksOfId, ticksOfMs, timeuuidOfId } from './inbox-id.ts';
import { checkKeyspace } from './migrations.ts';
import { dedupKeyOf, duplicateOf, encodeDedupResult } from '../dedup-result.ts';
import { DEFAULT_WRITE_BATCH_LIMITS, WriteCoalescer, type CoalescedRow, type WriteBatchLimits } from './write-coalescer.ts';

/** Consistency levels by name (cassandra-driver `types.consistencies`). */
export type CassandraConsistency = 'one' | 'localOne' | 'quorum' | 'localQuorum' | 'eachQuorum' | 'all';

export interface CassandraInboxSettings {
  readonly keyspace: string;
  /** @default DEFAULT_INBOX_RETENTION; both become per-row TTLs */
  readonly retention?: Partial<InboxRetention>;
  /** Reads and writes. LOCAL_QUORUM on both gives read-your-writes with RF 3 (R + W > RF). @default 'localQuorum' */
  readonly consistency?: CassandraConsistency;
  /** Width of an inbox partition's time bucket; the table's TWCS window is one day, keep them equal. @default 86_400_000 */
  readonly bucketMs?: number;
  /** Clock for minting ids. @default Date.now */
  readonly now?: () => number;
  /** Idle device sequencers kept in memory. @default 100_000 */
  readonly maxSequencers?: number;
  /**
   * Multi-writer mode (several nodes append to one device): every successful
   * append is visible this long after its ids were minted, and the store
   * exposes `multiWriter`. Integer ≥ 1000, above twice the nodes' clock skew.
   * @default undefined (one writer per device: `multiWriter` is undefined)
   */
  readonly commitHorizonMs?: number;
  /**
   * Caps of the UNLOGGED batches that carry concurrent appends' rows (see
   * ./write-coalescer.ts and store/README.md for the server thresholds they
   * must stay under). `{ maxRows: 1 }` sends every row alone.
   * @default DEFAULT_WRITE_BATCH_LIMITS
   */
  readonly writeBatch?: Partial<WriteBatchLimits>;
}

/** The shortest commit horizon accepted: below it, one slow write would reject appends routinely. */
export const MIN_COMMIT_HORIZON_MS = 1000;

export const DEFAULT_CASSANDRA_INBOX_SETTINGS = {
  consistency: 'localQuorum',
  bucketMs: 86_400_000,
  maxSequencers: 100_000,
} as const satisfies Partial<CassandraInboxSettings>;

interface PlannedCopy {
  readonly recipient: DeviceAddress;
  readonly state: DeviceState;
  readonly id: string;
  readonly bucket: number;
  readonly newBucket: boolean;
}

/**
 * Fixed part of a row's size as Cassandra counts it against the batch
 * thresholds (clustering key, liveness info, deletion time, 16 bytes of
 * timestamp/TTL/expiry per cell). Measured on 5.0.8 from the server's own
 * warnings: an inbox_entries row is 233 bytes + payload + client message id,
 * an inbox_buckets row 66, an inbox_dedup row 109 + result + client message
 * id. Rounded up, so a row's estimate (this + its variable-length values) is
 * an upper bound.
 */
const ROW_BYTES = 256;

const ENTRY_COLUMNS = 'id, sender_user, sender_device, client_message_id, kind, server_ts, payload';

export class CassandraInboxStore implements InboxStore {
  private readonly retention: InboxRetention;
  private readonly inboxTtl: number;
  private readonly dedupTtl: number;
  private readonly bucketTtl: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  /** Set in multi-writer mode only. */
  private readonly commitHorizonMs: number | undefined;
  private readonly options: cassandra.QueryOptions;
  private readonly cql: Record<
    | 'insertEntry' | 'deleteEntry' | 'insertBucket' | 'listBuckets' | 'lastBucket' | 'newestId' | 'readAfter' | 'readAll'
    | 'countAfter' | 'countAll' | 'ackRange' | 'getCursor' | 'setCursor' | 'getDedup' | 'insertDedup',
    string
  >;
  /** Present in multi-writer mode (`commitHorizonMs` set), see the header. */
  readonly multiWriter: MultiWriterInbox | undefined;
  private readonly sequencers: DeviceSequencers;
  /** Appends in flight by dedup key: a concurrent retry waits for the original instead of racing it. */
  private readonly inFlight = new Map<string, Promise<AppendResult>>();
  /** Gathers the copies' and dedup rows' inserts of concurrent appends into batches per turn. */
  private readonly writes: WriteCoalescer;
  /** clock seq + node of the ids this store mints. */
  private readonly idTail = randomIdTail();
  private closed = false;

  constructor(
    private readonly client: cassandra.Client,
    settings: CassandraInboxSettings,
  ) {
    const ks = settings.keyspace;
    checkKeyspace(ks);
    this.retention = { ...DEFAULT_INBOX_RETENTION, ...settings.retention };
    checkTimestamp('inboxRetentionMs', this.retention.inboxRetentionMs);
    checkTimestamp('dedupRetentionMs', this.retention.dedupRetentionMs);
    this.bucketMs = settings.bucketMs ?? DEFAULT_CASSANDRA_INBOX_SETTINGS.bucketMs;
    if (!Number.isSafeInteger(this.bucketMs) || this.bucketMs < 1) throw invalidInput('bucketMs', 'not a positive integer');
    this.inboxTtl = ttlSeconds('inboxRetentionMs', this.retention.inboxRetentionMs);
    this.dedupTtl = ttlSeconds('dedupRetentionMs', this.retention.dedupRetentionMs);
    this.bucketTtl = ttlSeconds('inboxRetentionMs', this.retention.inboxRetentionMs + this.bucketMs);
    this.now = settings.now ?? Date.now;
    const horizon = settings.commitHorizonMs;
    if (horizon !== undefined && (!Number.isSafeInteger(horizon) || horizon < MIN_COMMIT_HORIZON_MS)) {
      throw invalidInput('commitHorizonMs', `not an integer ≥ ${MIN_COMMIT_HORIZON_MS}`);
    }
    this.commitHorizonMs = horizon;
    this.multiWriter =
      horizon === undefined
        ? undefined
        : {
            horizonMs: horizon,
            horizonCursor: (now) => this.horizonCursor(horizon, now),
            ackIds: (device, ids, cursor) => this.ackIds(device, ids, cursor),
          };
    this.sequencers = new DeviceSequencers(settings.maxSequencers ?? DEFAULT_CASSANDRA_INBOX_SETTINGS.maxSequencers);
    const consistency = cassandra.types.consistencies[settings.consistency ?? DEFAULT_CASSANDRA_INBOX_SETTINGS.consistency];
    if (consistency === undefined) throw invalidInput('consistency', 'not a consistency level name');
    this.options = { prepare: true, isIdempotent: true, consistency };
    const limits = { ...DEFAULT_WRITE_BATCH_LIMITS, ...settings.writeBatch };
    for (const k of ['maxRows', 'maxBytes'] as const) {
      if (!Number.isSafeInteger(limits[k]) || limits[k] < 1) throw invalidInput(`writeBatch.${k}`, 'not a positive integer');
    }
    this.writes = new WriteCoalescer({ one: (q, p) => this.exec('append', q, p), batch: (qs) => this.execBatch('append', qs) }, limits);
    const dev = 'recipient_user = ? AND recipient_device = ?';
    const part = `${dev} AND bucket = ?`;
    this.cql = {
      insertEntry: `INSERT INTO ${ks}.inbox_entries (recipient_user, recipient_device, bucket, ${ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
      deleteEntry: `DELETE FROM ${ks}.inbox_entries WHERE ${part} AND id = ?`,
      insertBucket: `INSERT INTO ${ks}.inbox_buckets (recipient_user, recipient_device, bucket) VALUES (?, ?, ?) USING TTL ?`,
      listBuckets: `SELECT bucket FROM ${ks}.inbox_buckets WHERE ${dev} AND bucket >= ?`,
      lastBucket: `SELECT bucket FROM ${ks}.inbox_buckets WHERE ${dev} ORDER BY bucket DESC LIMIT 1`,
      newestId: `SELECT id FROM ${ks}.inbox_entries WHERE ${part} ORDER BY id DESC LIMIT 1`,
      readAfter: `SELECT ${ENTRY_COLUMNS} FROM ${ks}.inbox_entries WHERE ${part} AND id > ? LIMIT ?`,
      readAll: `SELECT ${ENTRY_COLUMNS} FROM ${ks}.inbox_entries WHERE ${part} LIMIT ?`,
      countAfter: `SELECT COUNT(*) AS n FROM ${ks}.inbox_entries WHERE ${part} AND id > ?`,
      countAll: `SELECT COUNT(*) AS n FROM ${ks}.inbox_entries WHERE ${part}`,
      ackRange: `DELETE FROM ${ks}.inbox_entries WHERE ${part} AND id <= ?`,
      getCursor: `SELECT acked_upto FROM ${ks}.inbox_cursor WHERE ${dev}`,
      setCursor: `INSERT INTO ${ks}.inbox_cursor (recipient_user, recipient_device, acked_upto) VALUES (?, ?, ?) USING TTL ?`,
      getDedup: `SELECT server_ts, result FROM ${ks}.inbox_dedup WHERE sender_user = ? AND sender_device = ? AND client_message_id = ?`,
      insertDedup: `INSERT INTO ${ks}.inbox_dedup (sender_user, sender_device, client_message_id, server_ts, result) VALUES (?, ?, ?, ?, ?) USING TTL ?`,
    };
  }

  /** Marks the store closed: later calls reject PARLEY_ERR_STORE_UNAVAILABLE. */
  markClosed(): void {
    this.closed = true;
  }

  /** Device sequencers held in memory (for tests and metrics). */
  get sequencerCount(): number {
    return this.sequencers.size;
  }

  async append(batch: InboxBatch): Promise<AppendResult> {
    checkBatch(batch);
    this.checkOpen('append');
    const dedupKey = `${batch.sender.userId}:${batch.sender.deviceId}:${dedupKeyOf(batch)}`;
    const running = this.inFlight.get(dedupKey);
    if (running !== undefined) {
      // a retry racing its original: the original's outcome decides (success = duplicate)
      const original = await running.catch(() => undefined);
      if (original !== undefined) return { ...original, duplicate: true };
      return this.append(batch);
    }
    const run = this.appendOnce(batch);
    this.inFlight.set(dedupKey, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(dedupKey);
    }
  }

  private async appendOnce(batch: InboxBatch): Promise<AppendResult> {
    const { sender, clientMessageId, kind, serverTimestamp, copies } = batch;
    const key = dedupKeyOf(batch);
    if (batch.resend === true) {
      const dup = await this.exec('append', this.cql.getDedup, [sender.userId, sender.deviceId, key]);
      const row = dup.first();
      if (row) return duplicateOf(Number(row['server_ts'] as bigint), row['result'] as string);
    }

    const { sequencers, release } = await this.sequencers.lockAll(copies.map((c) => deviceKey(c.recipient)));
    try {
      const bySeqKey = new Map<string, DeviceSequencer>(sequencers.map((s) => [s.key, s]));
      const states = await Promise.all(copies.map((c) => this.deviceState(bySeqKey.get(deviceKey(c.recipient))!, c.recipient)));
      const mintMs = this.now();
      const nowTicks = ticksOfMs(mintMs);
      const planned: PlannedCopy[] = copies.map((c, i) => {
        const state = states[i]!;
        const ticks = DeviceSequencer.mint(state, nowTicks);
        const bucket = this.bucketOf(ticks);
        return { recipient: c.recipient, state, id: encodeInboxId(ticks, this.idTail), bucket, newBucket: !state.knownBuckets.has(bucket) };
      });
      const sts = BigInt(serverTimestamp);
      const keyBytes = Buffer.byteLength(clientMessageId);
      const rows: CoalescedRow[] = [];
      for (let i = 0; i < planned.length; i++) {
        const p = planned[i]!;
        const { userId, deviceId } = p.recipient;
        if (p.newBucket) rows.push({ query: this.cql.insertBucket, params: [userId, deviceId, p.bucket, this.bucketTtl], bytes: ROW_BYTES });
        const payload = asBuffer(copies[i]!.payload);
        rows.push({
          query: this.cql.insertEntry,
          params: [userId, deviceId, p.bucket, timeuuidOfId(p.id), sender.userId, sender.deviceId, clientMessageId, kind, sts, payload, this.inboxTtl],
          bytes: ROW_BYTES + keyBytes + payload.byteLength,
        });
      }
      try {
        await this.writes.write(rows);
      } catch (err) {
        // every request carrying a copy has settled (WriteCoalescer.write), so the deletes come later
        await this.compensate(planned);
        throw err;
      }
      if (this.commitHorizonMs !== undefined && this.now() - mintMs > this.commitHorizonMs / 2) {
        // a reader may already have passed these ids (see the header): undo, the sender retries with new ids
        await this.compensate(planned);
        throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `inbox.append: exceeded the commit deadline (${this.commitHorizonMs / 2} ms after minting); undone`, {
          details: { operation: 'inbox.append', reason: 'commit deadline exceeded', deadlineMs: this.commitHorizonMs / 2 },
        });
      }
      for (const p of planned) p.state.knownBuckets.add(p.bucket);
      const out: AppendedCopy[] = planned.map((p) => ({ recipient: { userId: p.recipient.userId, deviceId: p.recipient.deviceId }, id: p.id }));
      const result = encodeDedupResult(out); // ASCII (dedup-result.ts): length = bytes
      await this.writes.write([
        { query: this.cql.insertDedup, params: [sender.userId, sender.deviceId, key, sts, result, this.dedupTtl], bytes: ROW_BYTES + Buffer.byteLength(key) + result.length },
      ]);
      return { duplicate: false, serverTimestamp, copies: out };
    } finally {
      release();
    }
  }

  /** Deletes every copy of a failed batch. If that fails too, the copies stay (see the header: duplicates, never loss). */
  private async compensate(planned: readonly PlannedCopy[]): Promise<void> {
    await Promise.allSettled(
      planned.map((p) => this.exec('append.compensate', this.cql.deleteEntry, [p.recipient.userId, p.recipient.deviceId, p.bucket, timeuuidOfId(p.id)])),
    );
  }

  async read(device: DeviceAddress, after: InboxCursor, limit: number): Promise<InboxEntry[]> {
    checkDeviceAddress('device', device);
    const afterId = checkInboxId('after', after);
    checkReadLimit(limit);
    this.checkOpen('read');
    const state = await this.deviceState(this.sequencers.get(deviceKey(device)), device);
    const start = maxId(afterId, state.ackedUpTo || undefined);
    const out: InboxEntry[] = [];
    for (const bucket of await this.bucketsFrom(device, start)) {
      const want = limit - out.length;
      const rs =
        start === undefined
          ? await this.exec('read', this.cql.readAll, [device.userId, device.deviceId, bucket, want])
          : await this.exec('read', this.cql.readAfter, [device.userId, device.deviceId, bucket, timeuuidOfId(start), want]);
      for (const r of rs.rows) {
        out.push({
          id: idOfTimeuuid((r['id'] as cassandra.types.TimeUuid).toString()),
          sender: { userId: (r['sender_user'] as cassandra.types.Uuid).toString(), deviceId: r['sender_device'] as number },
          clientMessageId: r['client_message_id'] as string,
          kind: r['kind'] as InboxEntryKind,
          serverTimestamp: Number(r['server_ts'] as bigint),
          payload: r['payload'] as Buffer,
        });
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  async ack(device: DeviceAddress, upTo: InboxEntryId): Promise<void> {
    checkDeviceAddress('device', device);
    const upToId = checkInboxId('upTo', upTo);
    this.checkOpen('ack');
    if (upToId === undefined) return;
    const { sequencers, release } = await this.sequencers.lockAll([deviceKey(device)]);
    try {
      const state = await this.deviceState(sequencers[0]!, device);
      if (state.ackedUpTo !== '' && upToId <= state.ackedUpTo) return;
      const lastBucket = this.bucketOf(ticksOfId(upToId));
      const buckets = (await this.bucketsFrom(device, state.ackedUpTo || undefined)).filter((b) => b <= lastBucket);
      const uuid = timeuuidOfId(upToId);
      // one range tombstone per bucket the ack covers (usually one), plus the cursor
      await Promise.all([
        ...buckets.map((b) => this.exec('ack', this.cql.ackRange, [device.userId, device.deviceId, b, uuid])),
        this.exec('ack', this.cql.setCursor, [device.userId, device.deviceId, uuid, this.bucketTtl]),
      ]);
      state.ackedUpTo = upToId;
      // an ack above every id minted so far must not let a later id fall below the cursor
      const ticks = ticksOfId(upToId);
      if (ticks > state.floorTicks) state.floorTicks = ticks;
    } finally {
      release();
    }
  }

  /** MultiWriterInbox.horizonCursor: the lowest id of the tick `horizon` ms before `now`. */
  private horizonCursor(horizon: number, now: number): InboxCursor {
    checkTimestamp('now', now);
    return lowestIdAt(ticksOfMs(now - horizon));
  }

  /**
   * MultiWriterInbox.ackIds: the point deletes as one UNLOGGED batch per
   * bucket (each id's bucket from its own timestamp; usually one), beside the
   * cursor row when `cursor` is above this process's cached one. A
   * single-partition batch is one mutation (no batchlog; the server's batch
   * size limits skip it) and one round trip: faster than concurrent point
   * deletes for 10-50 ids on a local node, the same for one. Under the
   * device's lock, like `ack`; every write settles before it is released.
   */
  private async ackIds(device: DeviceAddress, ids: readonly InboxEntryId[], cursor: InboxCursor): Promise<void> {
    checkDeviceAddress('device', device);
    if (!Array.isArray(ids)) throw invalidInput('ids', 'not an array');
    const acked = new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const id = checkInboxId(`ids[${i}]`, ids[i]);
      if (id === undefined) throw invalidInput(`ids[${i}]`, 'not an inbox id of this store');
      acked.add(id);
    }
    const cursorId = checkInboxId('cursor', cursor);
    this.checkOpen('ackIds');
    const { sequencers, release } = await this.sequencers.lockAll([deviceKey(device)]);
    try {
      const state = await this.deviceState(sequencers[0]!, device);
      const raise = cursorId !== undefined && (state.ackedUpTo === '' || cursorId > state.ackedUpTo);
      const { userId, deviceId } = device;
      const byBucket = new Map<number, Array<{ query: string; params: unknown[] }>>();
      for (const id of acked) {
        const bucket = this.bucketOf(ticksOfId(id));
        let deletes = byBucket.get(bucket);
        if (deletes === undefined) byBucket.set(bucket, (deletes = []));
        deletes.push({ query: this.cql.deleteEntry, params: [userId, deviceId, bucket, timeuuidOfId(id)] });
      }
      const writes: Array<Promise<unknown>> = [...byBucket.values()].map((deletes) => this.execBatch('ackIds', deletes));
      if (raise) writes.push(this.exec('ackIds', this.cql.setCursor, [userId, deviceId, timeuuidOfId(cursorId), this.bucketTtl]));
      const failed = (await Promise.allSettled(writes)).find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      if (raise) {
        state.ackedUpTo = cursorId;
        const ticks = ticksOfId(cursorId);
        if (ticks > state.floorTicks) state.floorTicks = ticks;
      }
    } finally {
      release();
    }
  }

  async count(device: DeviceAddress): Promise<number> {
    checkDeviceAddress('device', device);
    this.checkOpen('count');
    const state = await this.deviceState(this.sequencers.get(deviceKey(device)), device);
    const start = state.ackedUpTo || undefined;
    let n = 0;
    for (const bucket of await this.bucketsFrom(device, start)) {
      const rs =
        start === undefined
          ? await this.exec('count', this.cql.countAll, [device.userId, device.deviceId, bucket])
          : await this.exec('count', this.cql.countAfter, [device.userId, device.deviceId, bucket, timeuuidOfId(start)]);
      n += Number(rs.first()!['n'] as bigint);
    }
    return n;
  }

  /** Rows expire by TTL on the server; nothing to do. */
  async purgeExpired(now: number): Promise<PurgeResult> {
    checkTimestamp('now', now);
    return { entries: 0, dedupKeys: 0 };
  }

  /** Buckets of `device` that may hold entries above `start`, ascending. */
  private async bucketsFrom(device: DeviceAddress, start: string | undefined): Promise<number[]> {
    const first = start === undefined ? -0x8000_0000 : this.bucketOf(ticksOfId(start));
    const rs = await this.exec('buckets', this.cql.listBuckets, [device.userId, device.deviceId, first]);
    return rs.rows.map((r) => r['bucket'] as number);
  }

  /**
   * Loads a device's cursor and newest id once per process: the sequencer's
   * floor starts above both, so ids stay increasing across restarts and owner
   * changes even if this node's clock is behind the previous owner's.
   */
  private deviceState(seq: DeviceSequencer, device: DeviceAddress): Promise<DeviceState> {
    return seq.state(async () => {
      const { userId, deviceId } = device;
      const [cursor, last] = await Promise.all([
        this.exec('load', this.cql.getCursor, [userId, deviceId]),
        this.exec('load', this.cql.lastBucket, [userId, deviceId]),
      ]);
      const acked = cursor.first()?.['acked_upto'] as cassandra.types.TimeUuid | null | undefined;
      const ackedUpTo = acked ? idOfTimeuuid(acked.toString()) : '';
      let floorTicks = ackedUpTo ? ticksOfId(ackedUpTo) : 0n;
      const lastBucket = last.first()?.['bucket'] as number | undefined;
      if (lastBucket !== undefined) {
        const newest = (await this.exec('load', this.cql.newestId, [userId, deviceId, lastBucket])).first()?.['id'] as cassandra.types.TimeUuid | undefined;
        if (newest) {
          const t = ticksOfId(idOfTimeuuid(newest.toString()));
          if (t > floorTicks) floorTicks = t;
        }
      }
      return { ackedUpTo, floorTicks, knownBuckets: new Set(lastBucket === undefined ? [] : [lastBucket]) };
    });
  }

  /** The time bucket (inbox partition) of an id's timestamp. */
  private bucketOf(ticks: bigint): number {
    return Math.floor(msOfTicks(ticks) / this.bucketMs);
  }

  private checkOpen(operation: string): void {
    if (this.closed) throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: the store is closed`, { details: { operation } });
  }

  private async exec(operation: string, cql: string, params: unknown[]): Promise<cassandra.types.ResultSet> {
    this.checkOpen(operation);
    try {
      return await this.client.execute(cql, params, this.options);
    } catch (err) {
      throw translateCassandraError(err, `inbox.${operation}`);
    }
  }

  /**
   * An UNLOGGED batch: one request, applied as the separate statements would
   * be (one mutation per partition, no batchlog, no atomicity across them).
   */
  private async execBatch(operation: string, queries: Array<{ query: string; params: unknown[] }>): Promise<void> {
    this.checkOpen(operation);
    try {
      await this.client.batch(queries, { ...this.options, logged: false });
    } catch (err) {
      throw translateCassandraError(err, `inbox.${operation}`);
    }
  }
}

/** The driver encodes blobs from Buffers only; this is a view, not a copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function deviceKey(d: DeviceAddress): string {
  return `${d.userId}:${d.deviceId}`;
}

function maxId(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}

/** Cassandra TTLs are whole seconds, at most 20 years. */
function ttlSeconds(field: string, ms: number): number {
  const s = Math.ceil(ms / 1000);
  if (s < 1 || s > 630_720_000) throw invalidInput(field, 'TTL must be 1 s .. 20 years');
  return s;
}

/**
 * `--history-direct`: ONE device's acked history of a million entries on
 * Cassandra, in bounded time.
 *
 * Through the InboxStore API a device's appends are serialised (the device
 * sequencer holds its lock over two round trips: ~600 appends/s here), so a
 * million takes ~30 min. This writes the rows the store's `append` writes,
 * without the sequencer:
 *
 * - `inbox_entries`: same columns, same `USING TTL` (inbox retention), ids
 *   encoded exactly as the store mints them (`encodeInboxId` of a 100 ns tick
 *   count + a random clock-seq/node tail, `timeuuidOfId` for the column),
 *   strictly increasing, 1 ms apart, ending a minute before the run, all in
 *   the CURRENT day bucket when the day has room (the worst case: the
 *   backlog measured afterwards lands in the same partition as the history and
 *   its tombstones; a history in past buckets would not even be in the
 *   partitions a read touches);
 * - `inbox_buckets`: one row per bucket, TTL retention + one bucket;
 * - `inbox_dedup`: one row per send (its own partition), TTL dedup retention,
 *   the same JSON result the store records.
 *
 * Entries go in single-partition UNLOGGED batches (one partition = one
 * mutation, so no batchlog, no size warning; CASSANDRA-10876), dedup rows in
 * multi-partition unlogged batches (one node, RF 1: all local), `concurrency`
 * chunks in flight.
 *
 * Then the history is acked with the store's own `ack()`, page by page of
 * 128 from the oldest, as a device that comes online and drains its inbox
 * does: one range delete `id <= last id of the page` per bucket covered +
 * the cursor write. Acks are what make tombstones, and they are the store's
 * statements with the store's client-side timestamps, so the tombstones are
 * the store's: the same count (one range tombstone per ack page per bucket,
 * 7,813 for a million) and the same shape (open-start ranges `[.., id]` over
 * rows that, at this size, mostly already sit in flushed SSTables, like a
 * device that was offline for a while). How the rows got there (a batch vs
 * one INSERT each, concurrently vs one by one) changes neither the cells on
 * disk nor the tombstones: a row is the same cells with the same TTL; only the
 * write timestamps differ, and every one of them is older than the acks
 * (the driver's monotonic client timestamps), so every ack shadows them as it
 * would have. What is NOT reproduced: the interleaving of appends and acks of
 * an online device (rows acked while still in the memtable never reach disk,
 * which only makes the store's case lighter than this one).
 */
import cassandra from 'cassandra-driver';
import { DEFAULT_CASSANDRA_INBOX_SETTINGS } from '../../store/cassandra/cassandra-inbox-store.ts';
import { encodeInboxId, msOfTicks, randomIdTail, ticksOfMs, timeuuidOfId } from '../../store/cassandra/inbox-id.ts';
import { DEFAULT_INBOX_RETENTION, type DeviceAddress, type InboxStore } from '../../store/types.ts';
import { PAGE, payload } from './inbox-workload.ts';

export interface DirectHistoryOptions {
  readonly client: cassandra.Client;
  readonly keyspace: string;
  /** The store whose `ack()` acks the history (must not have touched `device` yet). */
  readonly inbox: InboxStore;
  readonly device: DeviceAddress;
  readonly target: number;
  /** Time box of the write phase: no new chunk starts after it; the acks then cover what was written. */
  readonly writeBudgetMs: number;
  /** Rows per batch. @default 100 */
  readonly batchRows?: number;
  /** Chunks in flight. @default 16 */
  readonly concurrency?: number;
  readonly senders: readonly DeviceAddress[];
  readonly onProgress?: (line: string) => void;
}

export interface DirectHistoryResult {
  readonly target: number;
  readonly written: number;
  readonly acked: number;
  /** store ack() calls (pages of 128). */
  readonly acks: number;
  readonly buckets: readonly number[];
  /** ms between consecutive ids. */
  readonly idSpacingMs: number;
  readonly batches: number;
  readonly writeSeconds: number;
  readonly rowsPerSecond: number;
  readonly ackSeconds: number;
  readonly acksPerSecond: number;
  readonly seconds: number;
  readonly truncated: boolean;
  /** count(device) after the acks (must be 0). */
  readonly leftOver: number;
}

const TICKS_PER_MS = 10_000n;

export async function fillHistoryDirect(o: DirectHistoryOptions): Promise<DirectHistoryResult> {
  const ks = o.keyspace;
  const batchRows = o.batchRows ?? 100;
  const concurrency = o.concurrency ?? 16;
  const bucketMs = DEFAULT_CASSANDRA_INBOX_SETTINGS.bucketMs;
  // the store's TTLs (CassandraInboxStore constructor, default retention)
  const inboxTtl = Math.ceil(DEFAULT_INBOX_RETENTION.inboxRetentionMs / 1000);
  const dedupTtl = Math.ceil(DEFAULT_INBOX_RETENTION.dedupRetentionMs / 1000);
  const bucketTtl = Math.ceil((DEFAULT_INBOX_RETENTION.inboxRetentionMs + bucketMs) / 1000);
  // the store's statements (CassandraInboxStore.cql)
  const insertEntry =
    `INSERT INTO ${ks}.inbox_entries (recipient_user, recipient_device, bucket, id, sender_user, sender_device, client_message_id, kind, server_ts, payload) ` +
    `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`;
  const insertBucket = `INSERT INTO ${ks}.inbox_buckets (recipient_user, recipient_device, bucket) VALUES (?, ?, ?) USING TTL ?`;
  const insertDedup = `INSERT INTO ${ks}.inbox_dedup (sender_user, sender_device, client_message_id, server_ts, result) VALUES (?, ?, ?, ?, ?) USING TTL ?`;
  const options: cassandra.QueryOptions = { prepare: true, isIdempotent: true, logged: false, consistency: cassandra.types.consistencies.localQuorum };

  // ids: 1 ms apart, the newest a minute ago, all in today's bucket if it has room (else packed closer)
  const nowMs = Date.now();
  const endMs = nowMs - 60_000;
  const dayStart = Math.floor(endMs / bucketMs) * bucketMs;
  let spacingTicks = TICKS_PER_MS;
  let firstTicks = ticksOfMs(endMs - o.target);
  if (endMs - o.target <= dayStart) {
    spacingTicks = BigInt(Math.max(1, Math.floor(((endMs - dayStart) * 10_000) / o.target)));
    firstTicks = ticksOfMs(dayStart) + 1n;
  }
  const tail = randomIdTail();
  const idAt = (i: number): string => encodeInboxId(firstTicks + BigInt(i) * spacingTicks, tail);
  const bucketOf = (i: number): number => Math.floor(msOfTicks(firstTicks + BigInt(i) * spacingTicks) / bucketMs);

  const { userId, deviceId } = o.device;
  const t0 = performance.now();
  const buckets: number[] = [];
  for (let b = bucketOf(0); b <= bucketOf(o.target - 1); b++) buckets.push(b);
  await Promise.all(buckets.map((b) => o.client.execute(insertBucket, [userId, deviceId, b, bucketTtl], options)));

  const chunks = Math.ceil(o.target / batchRows);
  const deadline = t0 + o.writeBudgetMs;
  let nextChunk = 0;
  let chunksDone = 0;
  let batches = 0;
  let lastReport = t0;
  const worker = async (): Promise<void> => {
    while (nextChunk < chunks && performance.now() < deadline) {
      const c = nextChunk++;
      const from = c * batchRows;
      const to = Math.min(from + batchRows, o.target);
      const byBucket = new Map<number, Array<{ query: string; params: unknown[] }>>();
      const dedup: Array<{ query: string; params: unknown[] }> = [];
      for (let i = from; i < to; i++) {
        const id = idAt(i);
        const bucket = bucketOf(i);
        const sender = o.senders[i % o.senders.length]!;
        const clientMessageId = `h${i}`;
        const sts = BigInt(msOfTicks(firstTicks + BigInt(i) * spacingTicks));
        let list = byBucket.get(bucket);
        if (list === undefined) byBucket.set(bucket, (list = []));
        list.push({
          query: insertEntry,
          params: [userId, deviceId, bucket, timeuuidOfId(id), sender.userId, sender.deviceId, clientMessageId, 'message', sts, payload(), inboxTtl],
        });
        dedup.push({ query: insertDedup, params: [sender.userId, sender.deviceId, clientMessageId, sts, JSON.stringify([[userId, deviceId, id]]), dedupTtl] });
      }
      await Promise.all([...[...byBucket.values()].map((q) => o.client.batch(q, options)), o.client.batch(dedup, options)]);
      batches += byBucket.size + 1;
      chunksDone++;
      if (o.onProgress && performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        o.onProgress(`history-direct: ${Math.min(chunksDone * batchRows, o.target).toLocaleString('en-US')} rows written`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  // chunks are taken in order and every taken chunk finished: rows 0 .. written-1 are all there
  const written = Math.min(nextChunk * batchRows, o.target);
  const writeSeconds = (performance.now() - t0) / 1000;
  o.onProgress?.(`history-direct: ${written.toLocaleString('en-US')} rows in ${writeSeconds.toFixed(0)} s (${Math.round(written / writeSeconds)} rows/s); acking with the store's ack()`);

  // acks: the store's own ack(), one page of 128 at a time, oldest first
  const a0 = performance.now();
  let acks = 0;
  lastReport = a0;
  for (let upTo = PAGE; upTo - PAGE < written; upTo += PAGE) {
    await o.inbox.ack(o.device, idAt(Math.min(upTo, written) - 1));
    acks++;
    if (o.onProgress && performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      o.onProgress(`history-direct: ${Math.min(upTo, written).toLocaleString('en-US')} acked (${acks} acks)`);
    }
  }
  const ackSeconds = (performance.now() - a0) / 1000;
  const leftOver = await o.inbox.count(o.device);
  return {
    target: o.target,
    written,
    acked: written,
    acks,
    buckets,
    idSpacingMs: Number(spacingTicks) / 10_000,
    batches,
    writeSeconds,
    rowsPerSecond: written / writeSeconds,
    ackSeconds,
    acksPerSecond: acks / ackSeconds,
    seconds: (performance.now() - t0) / 1000,
    truncated: written < o.target,
    leftOver,
  };
}

/**
 * The store's first-page read of `device` (from its cursor) once more, with
 * Cassandra tracing on: the node's own account of the live rows, tombstones
 * and SSTables it went through.
 */
export async function traceFirstPage(client: cassandra.Client, keyspace: string, device: DeviceAddress): Promise<string[]> {
  const opts: cassandra.QueryOptions = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };
  const cur = await client.execute(`SELECT acked_upto FROM ${keyspace}.inbox_cursor WHERE recipient_user = ? AND recipient_device = ?`, [device.userId, device.deviceId], opts);
  const acked = cur.first()?.['acked_upto'] as cassandra.types.TimeUuid | undefined;
  const bucket = Math.floor(Date.now() / DEFAULT_CASSANDRA_INBOX_SETTINGS.bucketMs);
  const where = `recipient_user = ? AND recipient_device = ? AND bucket = ?`;
  const rs =
    acked === undefined
      ? await client.execute(`SELECT id FROM ${keyspace}.inbox_entries WHERE ${where} LIMIT ${PAGE}`, [device.userId, device.deviceId, bucket], { ...opts, traceQuery: true })
      : await client.execute(`SELECT id FROM ${keyspace}.inbox_entries WHERE ${where} AND id > ? LIMIT ${PAGE}`, [device.userId, device.deviceId, bucket, acked], {
          ...opts,
          traceQuery: true,
        });
  const traceId = rs.info.traceId;
  if (traceId === undefined) return [];
  const trace = await client.metadata.getTrace(traceId);
  return trace.events
    .map((e) => String(e.activity))
    .filter((a) => /tombstone|live rows|sstable|partition index|merged|skipped|key cache/i.test(a));
}

/**
 * The node's per-table read histograms (Cassandra 4+ virtual tables) for
 * `inbox_entries` of `keyspace`: tombstones and rows each read went through,
 * over every read of the run (both devices, count() included).
 */
export async function readHistograms(client: cassandra.Client, keyspace: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const t of ['tombstones_per_read', 'rows_per_read']) {
    try {
      const rs = await client.execute(`SELECT count, max, p50th, p99th FROM system_views.${t} WHERE keyspace_name = ? AND table_name = ?`, [keyspace, 'inbox_entries'], {
        prepare: false,
      });
      const r = rs.first();
      out[t] = r ? { count: Number(r['count']), max: Number(r['max']), p50: Number(r['p50th']), p99: Number(r['p99th']) } : null;
    } catch (err) {
      out[t] = String(err);
    }
  }
  return out;
}

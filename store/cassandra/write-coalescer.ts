/**
 * Per-turn write coalescer: the single-row writes that concurrent appends
 * issue during one event-loop turn leave as one UNLOGGED BATCH request (or a
 * few) instead of one request each.
 *
 * Why: a tiny single-row INSERT costs Cassandra mostly per-request work
 * (native-protocol framing, request dispatch, the response), not the write
 * itself. An unlogged batch is one request that the coordinator splits into
 * the same per-partition mutations the separate statements would have made:
 * no batchlog, no atomicity across partitions, the same durability and
 * visibility per row. Only the request overhead is shared.
 *
 * `write(rows)`:
 * - resolves once every row landed (every request carrying one succeeded);
 * - rejects with the first failure, but only after EVERY request carrying one
 *   of its rows has settled: a failed request means any row in it may or may
 *   not have landed (rows of other callers in the same batch get the same
 *   rejection), and a caller that compensates with deletes must issue them
 *   after (in client-side write timestamp: later) every insert they shadow.
 *
 * Flush rule: rows gather in one open batch until the end of the current
 * turn (`setImmediate`, which runs after the turn's I/O callbacks and all
 * their microtasks), or until the batch holds `maxRows` rows, or the next row
 * would take it above `maxBytes`; then it is sent. A row alone above
 * `maxBytes` is sent at once as a plain statement, as is a batch that ends up
 * with one row. `maxRows: 1` turns coalescing off (every row goes alone, at once).
 *
 * Limits, and why they are the caller's to keep: Cassandra refuses a
 * multi-partition batch whose data is above `batch_size_fail_threshold`
 * (50 KiB by default), logs a WARN per batch above `batch_size_warn_threshold`
 * (5 KiB), and warns (rate-limited log + a client warning) for an unlogged
 * batch covering more partitions than
 * `unlogged_batch_across_partitions_warn_threshold` (10). Each row's `bytes`
 * is the caller's upper estimate of its size as the server counts it
 * (cells, timestamps and TTLs, without the partition key).
 */

/** @see WriteCoalescer */
export interface WriteBatchLimits {
  /** Rows per request; 1 sends every row alone at once. Integer ≥ 1. */
  readonly maxRows: number;
  /** Estimated bytes per batch request (the rows' `bytes` summed). Integer ≥ 1. */
  readonly maxBytes: number;
}

/**
 * Defaults that stay under Cassandra's stock thresholds (5 KiB warn, 10
 * partitions), so a node with an untouched cassandra.yaml logs nothing:
 * 10 rows of a chat message (100-500 byte payloads) are 3-7 KiB as counted
 * here, so rows, not bytes, usually end a batch. Nodes configured as
 * store/README.md says can take `{ maxRows: 32, maxBytes: 32 * 1024 }`.
 */
export const DEFAULT_WRITE_BATCH_LIMITS: WriteBatchLimits = { maxRows: 10, maxBytes: 5 * 1024 };

/** One single-row write. */
export interface CoalescedRow {
  readonly query: string;
  readonly params: unknown[];
  /** Upper estimate of the row's size as the server counts it for batch_size_*_threshold. */
  readonly bytes: number;
}

/** How the coalescer reaches Cassandra (errors already translated by the caller). */
export interface CoalescedWriteSender {
  /** One statement alone. */
  one(query: string, params: unknown[]): Promise<unknown>;
  /** Several statements as one UNLOGGED batch. */
  batch(queries: Array<{ query: string; params: unknown[] }>): Promise<unknown>;
}

class OpenBatch {
  readonly queries: Array<{ query: string; params: unknown[] }> = [];
  bytes = 0;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  readonly done = new Promise<void>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });
}

export class WriteCoalescer {
  private open: OpenBatch | undefined;
  private flushScheduled = false;

  constructor(
    private readonly send: CoalescedWriteSender,
    private readonly limits: WriteBatchLimits,
  ) {
    for (const k of ['maxRows', 'maxBytes'] as const) {
      if (!Number.isSafeInteger(limits[k]) || limits[k] < 1) throw new RangeError(`WriteCoalescer: ${k} is not a positive integer`);
    }
  }

  /** See the header: resolves when every row landed; rejects once all its requests settled. */
  write(rows: readonly CoalescedRow[]): Promise<void> {
    // The requests carrying these rows (rows sharing a batch share its promise).
    const requests = [...new Set(rows.map((row) => this.add(row)))];
    if (requests.length <= 1) return requests[0] ?? Promise.resolve();
    return Promise.allSettled(requests).then((settled) => {
      for (const s of settled) if (s.status === 'rejected') throw s.reason;
    });
  }

  private add(row: CoalescedRow): Promise<void> {
    const { maxRows, maxBytes } = this.limits;
    if (row.bytes > maxBytes || maxRows === 1) return this.send.one(row.query, row.params).then(nothing);
    let b = this.open;
    if (b !== undefined && b.bytes + row.bytes > maxBytes) {
      this.flush(b);
      b = undefined;
    }
    if (b === undefined) {
      b = this.open = new OpenBatch();
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushAtTurnEnd);
      }
    }
    b.queries.push(row); // the driver reads query and params only
    b.bytes += row.bytes;
    const done = b.done;
    if (b.queries.length >= maxRows) this.flush(b);
    return done;
  }

  private readonly flushAtTurnEnd = (): void => {
    this.flushScheduled = false;
    if (this.open !== undefined) this.flush(this.open);
  };

  private flush(b: OpenBatch): void {
    if (this.open === b) this.open = undefined;
    const q = b.queries;
    const sent = q.length === 1 ? this.send.one(q[0]!.query, q[0]!.params) : this.send.batch(q);
    sent.then(b.resolve, b.reject);
  }
}

function nothing(): void {}

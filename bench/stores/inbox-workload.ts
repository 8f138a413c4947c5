/**
 * Inbox workloads, all through the `InboxStore` port only:
 * - `appendLoad`: N concurrent appenders, one copy per send, 100-byte payload;
 * - `drainDevice`: what a device's session does: read a page from its cursor,
 *   ack (cumulative) up to the page's last id, repeat until a page is empty;
 * - `drainMany`: that, for many devices at once;
 * - `fillHistory`: appends to ONE device while a session drains and acks it,
 *   until `target` entries are acked (or the time budget runs out);
 * - `firstPageLatency`: the first read of a reconnecting session (cursor '').
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import { LatencyRecorder, type LatencySummary } from '../lib/latency.ts';
import { INBOX_CURSOR_START, type DeviceAddress, type InboxStore } from '../../store/types.ts';

export const PAYLOAD_BYTES = 100;
export const PAGE = 128;

/** Random bytes to cut payloads from (incompressible, so Cassandra's LZ4 gets no free ride). */
const POOL = randomFillSync(Buffer.allocUnsafe(1 << 20));
let poolAt = 0;
export function payload(): Buffer {
  if (poolAt + PAYLOAD_BYTES > POOL.length) poolAt = 0;
  const p = POOL.subarray(poolAt, poolAt + PAYLOAD_BYTES);
  poolAt += PAYLOAD_BYTES + 7;
  return p;
}

export function devices(n: number): DeviceAddress[] {
  return Array.from({ length: n }, () => ({ userId: randomUUID(), deviceId: 1 }));
}

let messageSeq = 0;

export interface AppendLoadOptions {
  readonly concurrency: number;
  /** Stop after this long … */
  readonly durationMs: number;
  /** … or after this many appends, whichever comes first. */
  readonly maxAppends?: number;
  readonly senders: readonly DeviceAddress[];
  readonly recipients: readonly DeviceAddress[];
}

export interface AppendLoadResult {
  readonly appends: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly latency: LatencySummary;
}

export async function appendLoad(inbox: InboxStore, o: AppendLoadOptions): Promise<AppendLoadResult> {
  const latency = new LatencyRecorder();
  const t0 = performance.now();
  const deadline = t0 + o.durationMs;
  const max = o.maxAppends ?? Number.POSITIVE_INFINITY;
  let started = 0;
  let done = 0;
  const worker = async () => {
    while (started < max && performance.now() < deadline) {
      started++;
      const sender = o.senders[Math.floor(Math.random() * o.senders.length)]!;
      const recipient = o.recipients[Math.floor(Math.random() * o.recipients.length)]!;
      const a = performance.now();
      await inbox.append({
        sender,
        clientMessageId: `m${++messageSeq}`,
        kind: 'message',
        serverTimestamp: Date.now(),
        copies: [{ recipient, payload: payload() }],
      });
      latency.recordMs(performance.now() - a);
      done++;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { appends: done, seconds, perSecond: done / seconds, latency: latency.summary() };
}

/**
 * One append to each device, untimed: loads each device's state (Cassandra:
 * cursor, newest id, bucket row) the way a node has it after its first
 * message, so the timed window measures the steady state.
 */
export async function appendEach(inbox: InboxStore, recipients: readonly DeviceAddress[], senders: readonly DeviceAddress[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < recipients.length) {
      const recipient = recipients[next++]!;
      await inbox.append({
        sender: senders[Math.floor(Math.random() * senders.length)]!,
        clientMessageId: `m${++messageSeq}`,
        kind: 'message',
        serverTimestamp: Date.now(),
        copies: [{ recipient, payload: payload() }],
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export interface DrainResult {
  readonly entries: number;
  readonly pages: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Latency of each page's read (not the ack). */
  readonly readLatency: LatencySummary;
}

/** One device's session: read a page from the cursor, ack up to its last id, until empty. */
export async function drainDevice(inbox: InboxStore, device: DeviceAddress, readLatency = new LatencyRecorder()): Promise<DrainResult> {
  const t0 = performance.now();
  let cursor = INBOX_CURSOR_START;
  let entries = 0;
  let pages = 0;
  for (;;) {
    const a = performance.now();
    const page = await inbox.read(device, cursor, PAGE);
    readLatency.recordMs(performance.now() - a);
    if (page.length === 0) break;
    cursor = page[page.length - 1]!.id;
    await inbox.ack(device, cursor);
    entries += page.length;
    pages++;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { entries, pages, seconds, perSecond: entries / seconds, readLatency: readLatency.summary() };
}

/** Many devices drained at once by `concurrency` sessions. */
export async function drainMany(inbox: InboxStore, list: readonly DeviceAddress[], concurrency: number): Promise<DrainResult> {
  const t0 = performance.now();
  const readLatency = new LatencyRecorder();
  let next = 0;
  let entries = 0;
  let pages = 0;
  const worker = async () => {
    while (next < list.length) {
      const r = await drainDevice(inbox, list[next++]!, readLatency);
      entries += r.entries;
      pages += r.pages;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { entries, pages, seconds, perSecond: entries / seconds, readLatency: readLatency.summary() };
}

export interface FillHistoryResult {
  readonly target: number;
  readonly appended: number;
  readonly acked: number;
  readonly acks: number;
  readonly seconds: number;
  readonly appendsPerSecond: number;
  /** true when the time budget stopped the appends before `target`. */
  readonly truncated: boolean;
  /** count(device) afterwards (must be 0). */
  readonly leftOver: number;
}

/**
 * Builds a device's history: `concurrency` appenders (many senders) write to
 * ONE device while one session reads and acks it in pages, as an online
 * device does. Ends when `target` entries were appended (or the budget ran
 * out) and all of them were acked.
 */
export async function fillHistory(
  inbox: InboxStore,
  device: DeviceAddress,
  o: { target: number; budgetMs: number; concurrency: number; senders: readonly DeviceAddress[]; onProgress?: (appended: number, acked: number) => void },
): Promise<FillHistoryResult> {
  const t0 = performance.now();
  let appendsDone = false;
  let appended = 0;
  const load = appendLoad(inbox, { concurrency: o.concurrency, durationMs: o.budgetMs, maxAppends: o.target, senders: o.senders, recipients: [device] })
    .then((r) => {
      appended = r.appends;
      return r;
    })
    .finally(() => {
      appendsDone = true;
    });
  let cursor = INBOX_CURSOR_START;
  let acked = 0;
  let acks = 0;
  let lastReport = t0;
  const session = (async () => {
    for (;;) {
      const finishing = appendsDone; // read this before the page: a page read after the last append saw everything
      const page = await inbox.read(device, cursor, PAGE);
      if (page.length > 0) {
        cursor = page[page.length - 1]!.id;
        await inbox.ack(device, cursor);
        acked += page.length;
        acks++;
      } else if (finishing) {
        return;
      } else {
        await new Promise((r) => setTimeout(r, 5));
      }
      if (o.onProgress && performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        o.onProgress(appended, acked);
      }
    }
  })();
  const [r] = await Promise.all([load, session]);
  const seconds = (performance.now() - t0) / 1000;
  const leftOver = await inbox.count(device);
  return {
    target: o.target,
    appended: r.appends,
    acked,
    acks,
    seconds,
    appendsPerSecond: r.appends / r.seconds,
    truncated: r.appends < o.target,
    leftOver,
  };
}

/** The first page a reconnecting session reads (cursor ''), `samples` times, without acking. */
export async function firstPageLatency(open: () => InboxStore, device: DeviceAddress, samples: number): Promise<LatencySummary & { entries: number }> {
  const rec = new LatencyRecorder();
  let entries = 0;
  for (let i = 0; i < samples; i++) {
    const inbox = open();
    const a = performance.now();
    const page = await inbox.read(device, INBOX_CURSOR_START, PAGE);
    rec.recordMs(performance.now() - a);
    entries = page.length;
  }
  return { ...rec.summary(), entries };
}

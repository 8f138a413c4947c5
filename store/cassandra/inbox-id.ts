/**
 * The Cassandra encoding of `InboxEntryId`: the entry's timeuuid clustering key
 * as exactly 32 lower-case hex digits in (timestamp, clock seq, node) order:
 *
 *   16 hex: the 60-bit timestamp (100 ns ticks since 1582-10-15), zero-padded
 *    4 hex: clock_seq_hi_and_reserved ‖ clock_seq_low (variant bits 10xx…)
 *   12 hex: node
 *
 * A timeuuid's own text form puts time_low first, so it does not sort by
 * time; this one does, so plain string order = timestamp order, which is the
 * order Cassandra clusters a timeuuid column in.
 *
 * Cassandra breaks a timestamp tie by comparing the tail as *signed* bytes,
 * which disagrees with hex order for bytes ≥ 0x80. One process never mints
 * two ids of one device with the same timestamp, but two nodes appending to
 * one device (multi-writer mode) can, and a horizon cursor (`lowestIdAt`)
 * shares its timestamp with any id minted in that tick. So every tail this
 * code mints keeps bytes 1..7 in 0x00..0x7f, where signed and unsigned order
 * agree (byte 0 carries the variant, 0x80..0xbf, monotone in both): among
 * such tails string order = Cassandra order, and `LOWEST_ID_TAIL` is below
 * all of them in both.
 */
import { randomBytes } from 'node:crypto';
import { invalidInput } from '../errors.ts';
import { INBOX_CURSOR_START } from '../types.ts';

/** 100 ns ticks between 1582-10-15 (the UUID epoch) and 1970-01-01. */
const UUID_EPOCH_OFFSET = 122_192_928_000_000_000n;
const TICKS_PER_MS = 10_000n;
const ID_RE = /^0[0-9a-f]{15}[89ab][0-9a-f]{15}$/;

/** Ticks of a wall-clock time in ms since the Unix epoch. */
export function ticksOfMs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * TICKS_PER_MS + UUID_EPOCH_OFFSET;
}

/** The Unix ms an id's (or tick count's) timestamp falls in. */
export function msOfTicks(ticks: bigint): number {
  return Number((ticks - UUID_EPOCH_OFFSET) / TICKS_PER_MS);
}

/**
 * clock seq + node of the ids this process mints (16 hex): random, with the
 * RFC 4122 variant bits and the node's multicast bit set (a random node id),
 * bytes 1..7 below 0x80 (see the header: hex order = Cassandra order). Two
 * writers to one device tell their same-tick ids apart by it (55 random bits).
 */
export function randomIdTail(): string {
  const b = randomBytes(8);
  b[0] = (b[0]! & 0x3f) | 0x80;
  for (let i = 1; i < 8; i++) b[i] = b[i]! & 0x7f;
  b[2] = b[2]! | 0x01;
  return b.toString('hex');
}

/** Below every tail `randomIdTail` mints, in hex and in Cassandra order (the multicast bit makes minted tails larger). */
export const LOWEST_ID_TAIL = '8000000000000000';

/**
 * The cursor just below every id minted at `ticks` or later and above every
 * id minted earlier (a commit horizon, see CassandraInboxStore.multiWriter).
 */
export function lowestIdAt(ticks: bigint): string {
  return encodeInboxId(ticks, LOWEST_ID_TAIL);
}

export function encodeInboxId(ticks: bigint, tail: string): string {
  return ticks.toString(16).padStart(16, '0') + tail;
}

/** Validates an id or cursor; undefined for `INBOX_CURSOR_START`. */
export function checkInboxId(field: string, id: unknown): string | undefined {
  if (id === INBOX_CURSOR_START) return undefined;
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalidInput(field, 'not an inbox id of this store');
  return id;
}

export function ticksOfId(id: string): bigint {
  return BigInt(`0x${id.slice(0, 16)}`);
}

/** The timeuuid text form Cassandra accepts for an encoded id. */
export function timeuuidOfId(id: string): string {
  const t = id.slice(1, 16); // 15 hex = 60 bits
  const timeHi = t.slice(0, 3);
  const timeMid = t.slice(3, 7);
  const timeLow = t.slice(7, 15);
  return `${timeLow}-${timeMid}-1${timeHi}-${id.slice(16, 20)}-${id.slice(20, 32)}`;
}

/** The encoded id of a timeuuid's text form (as read back from Cassandra). */
export function idOfTimeuuid(uuid: string): string {
  const h = uuid.replaceAll('-', '');
  // h: time_low(8) time_mid(4) version+time_hi(4) clock_seq(4) node(12)
  return `0${h.slice(13, 16)}${h.slice(8, 12)}${h.slice(0, 8)}${h.slice(16, 32)}`;
}

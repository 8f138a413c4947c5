/**
 * Input checks shared by every adapter, so SQLite, PostgreSQL and Cassandra
 * reject exactly the same inputs with the same codes (the contract tests
 * assert it). Each throws a PARLEY_ERR_STORE_INVALID_INPUT StoreError.
 * Plain predicates, no allocation on the success path.
 */
import { invalidInput } from './errors.ts';
import { INBOX_MAX_READ_LIMIT, type DeviceAddress, type InboxBatch, type InboxCopy, type InboxEntryKind, type NewDevice } from './types.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_DEVICE_ID = 0x7fff_ffff;

export function checkUserId(field: string, userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || !UUID_RE.test(userId)) throw invalidInput(field, 'not a lower-case UUID');
}

export function checkDeviceAddress(field: string, address: DeviceAddress): void {
  if (address === null || typeof address !== 'object') throw invalidInput(field, 'not a device address');
  checkUserId(`${field}.userId`, address.userId);
  const d = address.deviceId;
  if (!Number.isInteger(d) || d < 1 || d > MAX_DEVICE_ID) throw invalidInput(`${field}.deviceId`, 'not an integer in 1..2^31-1');
}

export function checkTimestamp(field: string, ms: unknown): asserts ms is number {
  if (!Number.isSafeInteger(ms) || (ms as number) < 0) throw invalidInput(field, 'not a non-negative integer of ms');
}

export function checkNewDevice(device: NewDevice): void {
  if (device === null || typeof device !== 'object') throw invalidInput('device', 'not an object');
  const k = device.identityKey;
  if (!(k instanceof Uint8Array) || k.length < 1 || k.length > 256) throw invalidInput('device.identityKey', 'not 1..256 bytes');
  const r = device.registrationId;
  if (!Number.isInteger(r) || r < 0 || r > 0x7fff_ffff) throw invalidInput('device.registrationId', 'not an integer in 0..2^31-1');
  if (typeof device.name !== 'string' || device.name.length > 1024) throw invalidInput('device.name', 'not a string of at most 1024 characters');
}

const KINDS: ReadonlySet<string> = new Set<InboxEntryKind>(['message', 'receipt', 'server']);

export function checkKind(kind: unknown): asserts kind is InboxEntryKind {
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw invalidInput('batch.kind', 'not message | receipt | server');
}

export function checkClientMessageId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length < 1 || id.length > 128) throw invalidInput('batch.clientMessageId', 'not 1..128 characters');
}

/** `batch.resend` is optional; when present it is a boolean. */
export function checkResend(resend: unknown): void {
  if (resend !== undefined && typeof resend !== 'boolean') throw invalidInput('batch.resend', 'not a boolean');
}

/** Checks copy `i` of a batch. */
export function checkCopy(copy: InboxCopy, i: number): void {
  if (copy === null || typeof copy !== 'object') throw invalidInput(`batch.copies[${i}]`, 'not an object');
  checkDeviceAddress(`batch.copies[${i}].recipient`, copy.recipient);
  if (!(copy.payload instanceof Uint8Array)) throw invalidInput(`batch.copies[${i}].payload`, 'not a Uint8Array');
}

/** Checks a whole batch before anything of it is written: header, every copy, each recipient device at most once. */
export function checkBatch(batch: InboxBatch): void {
  if (batch === null || typeof batch !== 'object') throw invalidInput('batch', 'not an object');
  checkDeviceAddress('batch.sender', batch.sender);
  checkClientMessageId(batch.clientMessageId);
  if (batch.dedupKey !== undefined && (typeof batch.dedupKey !== 'string' || batch.dedupKey.length < 1 || batch.dedupKey.length > 256)) {
    throw invalidInput('batch.dedupKey', 'not 1..256 characters');
  }
  checkKind(batch.kind);
  checkTimestamp('batch.serverTimestamp', batch.serverTimestamp);
  checkResend(batch.resend);
  const { copies } = batch;
  if (!Array.isArray(copies) || copies.length === 0) throw invalidInput('batch.copies', 'not a non-empty array');
  if (copies.length === 1) {
    checkCopy(copies[0]!, 0);
    return;
  }
  const seen = new Set<string>();
  for (let i = 0; i < copies.length; i++) {
    const copy = copies[i]!;
    checkCopy(copy, i);
    const key = `${copy.recipient.userId}:${copy.recipient.deviceId}`;
    if (seen.has(key)) throw invalidInput(`batch.copies[${i}].recipient`, 'device appears twice in one batch');
    seen.add(key);
  }
}

export function checkReadLimit(limit: unknown): asserts limit is number {
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > INBOX_MAX_READ_LIMIT) {
    throw invalidInput('limit', `not an integer in 1..${INBOX_MAX_READ_LIMIT}`);
  }
}

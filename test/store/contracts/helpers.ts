/** Small helpers shared by the store contract suites. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isStoreError, type StoreErrorCode } from '../../../store/errors.ts';
import type { DeviceAddress, InboxBatch, InboxEntryKind } from '../../../store/types.ts';

export function device(userId: string, deviceId: number): DeviceAddress {
  return { userId, deviceId };
}

export function newUserId(): string {
  return randomUUID();
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** Asserts two byte arrays are equal, whatever their concrete class (Buffer vs Uint8Array). */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.ok(actual instanceof Uint8Array, 'payload is a Uint8Array');
  assert.equal(actual.byteLength, expected.byteLength, message ?? 'byte length');
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), message ?? 'bytes differ');
}

/** Asserts `promise` rejects with a StoreError carrying `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isStoreError(err), `expected a StoreError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** A batch from `sender` with one copy per recipient; payload encodes the recipient index. */
export function batch(
  sender: DeviceAddress,
  clientMessageId: string,
  recipients: readonly DeviceAddress[],
  options: { kind?: InboxEntryKind; serverTimestamp?: number; payload?: (i: number) => Uint8Array; resend?: boolean } = {},
): InboxBatch {
  const payload = options.payload ?? ((i: number) => new TextEncoder().encode(`${clientMessageId}#${i}`));
  const b: InboxBatch = {
    sender,
    clientMessageId,
    kind: options.kind ?? 'message',
    serverTimestamp: options.serverTimestamp ?? 1_700_000_000_000,
    copies: recipients.map((recipient, i) => ({ recipient, payload: payload(i) })),
  };
  return options.resend === undefined ? b : { ...b, resend: options.resend };
}

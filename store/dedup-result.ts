/**
 * The original result of an append as every inbox adapter keeps it in its
 * dedup row: JSON `[[userId, deviceId, id], …]` in the batch's copy order
 * (ASCII only: UUIDs, integers, hex or base-32 ids), next to the server time.
 */
import type { AppendResult, AppendedCopy } from './types.ts';

type StoredResult = [userId: string, deviceId: number, id: string][];

/** The key a batch is de-duplicated under within its sender device (InboxBatch.dedupKey). */
export function dedupKeyOf(batch: { readonly clientMessageId: string; readonly dedupKey?: string }): string {
  return batch.dedupKey ?? batch.clientMessageId;
}

/** The dedup row's `result` column for these copies. */
export function encodeDedupResult(copies: readonly AppendedCopy[]): string {
  const stored: StoredResult = copies.map((c) => [c.recipient.userId, c.recipient.deviceId, c.id]);
  return JSON.stringify(stored);
}

/** A stored result, answered as the duplicate of the original append. */
export function duplicateOf(serverTimestamp: number, result: string): AppendResult {
  const stored = JSON.parse(result) as StoredResult;
  return { duplicate: true, serverTimestamp, copies: stored.map(([userId, deviceId, id]) => ({ recipient: { userId, deviceId }, id })) };
}

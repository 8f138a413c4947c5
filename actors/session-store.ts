/**
 * A Session's writes besides its own sends: announcing committed entries to
 * recipient sessions, storing receipts, and looking devices up.
 */
import { randomUUID } from 'node:crypto';
import { FrameKind, ReceiptStatus, errorFrame } from '../protocol/index.ts';
import { cast, send, type ActorContext } from '../supervisors/index.ts';
import type { AppendResult, InboxBatch } from '../store/types.ts';
import { encodeStoredReceipt } from './inbox-payload.ts';
import { sessionName } from './chat-services.ts';
import type { NotifyTarget, SessionProtocol, SessionRef, SessionState } from './session-state.ts';

// ---------------------------------------------------------------------------
// receipts

/** Stores a receipt for every device of `to` (the original sender) and notifies the online ones. */
export function storeReceipt(state: SessionState, ctx: ActorContext<SessionProtocol>, to: string, status: ReceiptStatus, messageIds: readonly string[], rid: number | undefined): void {
  const { services, device } = state;
  const self = ctx.self;
  state.sendChain = state.sendChain.then(async () => {
    const devices = await services.directory.devicesOf(to);
    if (devices.length === 0) {
      if (rid !== undefined) send(self, { t: 'reply', frame: errorFrame('PARLEY_ERR_UNKNOWN_USER', rid, `unknown user ${to}`) });
      return;
    }
    const serverTimestamp = services.now();
    const payload = encodeStoredReceipt({ status, messageIds });
    const clientMessageId = `rcpt.${randomUUID()}`;
    const batch: InboxBatch = {
      sender: device, clientMessageId, kind: 'receipt', serverTimestamp,
      copies: devices.map((d) => ({ recipient: { userId: to, deviceId: d.deviceId }, payload })),
    };
    const entries = batch.copies.map((c) => ({ recipient: c.recipient, entry: { sender: device, clientMessageId, kind: 'receipt' as const, serverTimestamp, payload } }));
    await services.inbox.append(batch).then(
      (result) => {
        notifyCopies(state, result, entries);
        if (rid !== undefined) send(self, { t: 'reply', frame: { kind: FrameKind.Ok, rid } });
      },
      (error: unknown) => receiptFailed(state, self, rid, error),
    );
    // Without this catch a failed device lookup was an unhandled rejection (which ends
    // the node process) and left sendChain rejected, so every later send of this
    // device skipped its work and was answered with that stale error.
  }).catch((error: unknown) => receiptFailed(state, self, rid, error));
}

function receiptFailed(state: SessionState, self: SessionRef, rid: number | undefined, error: unknown): void {
  const { services, device } = state;
  if (rid !== undefined) send(self, { t: 'append-failed', rid, error });
  else services.log.warn({ event: 'session.receipt_store_failed', user: device.userId, device: device.deviceId, code: (error as { code?: string }).code });
}

/**
 * Announces committed copies to their recipients' sessions (wherever in the
 * cluster they run), each with the id this session stored for the same
 * device before (`prev`, only for a first-time store: a duplicate's ids are
 * older than what was announced since).
 */
export function notifyCopies(state: SessionState, result: AppendResult, entries: readonly NotifyTarget[]): void {
  const registry = state.services.system.registry;
  const last = state.lastSentTo;
  for (let i = 0; i < result.copies.length; i++) {
    const copy = result.copies[i]!;
    const key = `${copy.recipient.userId}:${copy.recipient.deviceId}`;
    const prev = result.duplicate ? undefined : last.get(key);
    if (!result.duplicate) {
      if (last.size >= LAST_SENT_MAX && !last.has(key)) last.delete(last.keys().next().value!);
      last.set(key, copy.id);
    }
    const target = registry.whereis(sessionName(copy.recipient)) as SessionRef | undefined;
    if (target === undefined) continue;
    const entry = { ...entries[i]!.entry, id: copy.id };
    cast(target, prev === undefined ? { t: 'notify', entry } : { t: 'notify', entry, prev });
  }
}

/** Recipient devices remembered per session for `prev` (a forgotten one is announced without: a read). */
const LAST_SENT_MAX = 1024;


/**
 * A Session's writes besides its own sends: announcing committed entries to
 * recipient sessions, storing receipts, and looking devices up.
 */
import { randomUUID } from 'node:crypto';
import { FrameKind, ReceiptStatus, errorFrame } from '../protocol/index.ts';
import { cast, send, type ActorContext } from '../supervisors/index.ts';
import type { AppendResult, InboxBatch } from '../store/types.ts';
import { encodeStoredReceipt } from './inbox-payload.ts';
import { sessionName, type ChatServices } from './chat-services.ts';
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
        notifyCopies(services, result, entries);
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

export function notifyCopies(services: ChatServices, result: AppendResult, entries: readonly NotifyTarget[]): void {
  const registry = services.system.registry;
  for (let i = 0; i < result.copies.length; i++) {
    const copy = result.copies[i]!;
    const target = registry.whereis(sessionName(copy.recipient)) as SessionRef | undefined;
    if (target !== undefined) cast(target, { t: 'notify', entry: { ...entries[i]!.entry, id: copy.id } });
  }
}


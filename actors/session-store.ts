/**
 * A Session's writes besides its own sends: announcing committed entries to
 * recipient sessions, storing receipts, and looking devices up.
 */
import { randomBytes } from 'node:crypto';
import { FrameKind, ReceiptStatus, errorFrame } from '../protocol/index.ts';
import { cast, send, type ActorContext } from '../supervisors/index.ts';
import { isParleyError } from '../protocol/errors.ts';
import type { AppendResult, EarlyIds, InboxBatch, InboxEntryId } from '../store/types.ts';
import { encodeStoredReceipt } from './inbox-payload.ts';
import { sessionName } from './chat-services.ts';
import type { DirectoryDevice } from './device-directory.ts';
import { entryOf, inOrder, type SendLink, type SessionProtocol, type SessionRef, type SessionState } from './session-state.ts';
import { forwardOrStore, linkTo, prevOf } from './session-forward.ts';
import type { AppendFate, EarlyNotice } from './session-early.ts';

// ---------------------------------------------------------------------------
// receipts

/**
 * Receipts' dedup keys (their client message ids): this process's random
 * prefix and a counter, unique across devices, nodes and restarts. (Not a
 * UUID each: `randomUUID` builds its string from 20 pieces, and the key of a
 * receipt never written is remembered for thousands of messages.)
 */
const RECEIPT_ID_PREFIX = `rcpt.${randomBytes(12).toString('base64url')}.`;
let receiptCounter = 0;

/** Attempts of a "delivered" receipt the server makes itself before giving up (then the acked messages stay: see receiptFailed). */
const RECEIPT_ATTEMPTS = 6;
/** First retry delay; doubled each time (0.1 + 0.2 + … + 1.6 s). */
const RECEIPT_RETRY_MS = 100;

/**
 * Stores a receipt for every device of `to` (the original sender) and
 * notifies the online ones. A read receipt (`rid`) is the client's request:
 * a failure goes back to it, and it retries. A "delivered" receipt is the
 * server's own: retried here on retryable failures (same dedup key).
 *
 * Returns a promise that settles (never rejects) once the receipt is safe
 * (stored, or acknowledged by its devices) or given up (receiptFailed): the
 * inbox delete of the messages it reports waits for it. The session's later
 * writes wait only until it is enqueued when the store keeps their order
 * itself (InboxStore.early, pipelined: a receipt to online devices may then
 * wait for their ack, a round trip to them), else until it is settled.
 */
export function storeReceipt(state: SessionState, ctx: ActorContext<SessionProtocol>, to: string, status: ReceiptStatus, messageIds: readonly string[], rid: number | undefined): Promise<void> {
  const self = ctx.self;
  const clientMessageId = RECEIPT_ID_PREFIX + (receiptCounter++).toString(36);
  let done!: () => void;
  const safe = new Promise<void>((resolve) => { done = resolve; });
  const retryOrGiveUp = async (error: unknown, attempt: number): Promise<void> => {
    if (rid === undefined && attempt < RECEIPT_ATTEMPTS && isParleyError(error) && error.retryable) {
      const { device, services } = state;
      services.log.warn({ event: 'session.receipt_retry', user: device.userId, device: device.deviceId, attempt, code: error.code }, 'delivered receipt not stored yet; retrying');
      await new Promise((resolve) => setTimeout(resolve, RECEIPT_RETRY_MS * 2 ** (attempt - 1)));
      // A retry may follow an attempt that was stored after all (e.g. a timeout): it looks its key up.
      tryStore(attempt + 1);
      return;
    }
    receiptFailed(state, self, rid, error);
    done();
  };
  const tryStore = (attempt: number): void => inOrder(state, () => {
    const onError = (error: unknown): Promise<void> => retryOrGiveUp(error, attempt);
    // Pipelined (early ids): later writes wait only until this one is enqueued; otherwise until it settled.
    const pipelined = state.services.inbox.early !== undefined;
    const failed = (error: unknown): Promise<void> | undefined => {
      const outcome = onError(error);
      return pipelined ? undefined : outcome;
    };
    const enqueue = (devices: readonly DirectoryDevice[]): Promise<void> | undefined => {
      try {
        const outcome = enqueueReceipt(state, self, devices, to, status, messageIds, rid, clientMessageId, attempt > 1, done, onError);
        return pipelined ? undefined : outcome;
      } catch (error) {
        // Caught here: a rejection would end the node process and leave the chain rejected.
        return failed(error);
      }
    };
    // At once when the devices of `to` are cached (the common case), else after the lookup.
    const devices = state.services.directory.cached(to);
    if (devices !== undefined) return enqueue(devices);
    return state.services.directory.devicesOf(to).then(enqueue, failed);
  });
  tryStore(1);
  return safe;
}

/**
 * Enqueues one attempt at a receipt to `devices` (those of `to`); `onStored`
 * or `onError` follows its outcome (the returned promise settles after it).
 */
function enqueueReceipt(
  state: SessionState, self: SessionRef, devices: readonly DirectoryDevice[], to: string, status: ReceiptStatus, messageIds: readonly string[],
  rid: number | undefined, clientMessageId: string, resend: boolean, onStored: () => void, onError: (error: unknown) => Promise<void>,
): Promise<void> | undefined {
  const { services, device } = state;
  if (devices.length === 0) {
    if (rid !== undefined) send(self, { t: 'reply', frame: errorFrame('PARLEY_ERR_UNKNOWN_USER', rid, `unknown user ${to}`) });
    onStored();
    return Promise.resolve();
  }
  const serverTimestamp = services.now();
  const payload = encodeStoredReceipt({ status, messageIds });
  const batch: InboxBatch = {
    sender: device, clientMessageId, kind: 'receipt', serverTimestamp, ...(resend ? { resend: true } : {}),
    copies: devices.map((d) => ({ recipient: d.address, payload })),
  };
  const stored = (): void => {
    if (rid !== undefined) send(self, { t: 'reply', frame: { kind: FrameKind.Ok, rid } });
    onStored();
  };
  if (state.mw !== undefined) {
    // Several writers: handed over to the devices' sessions when they are all online in the cluster, as
    // a message is (session-forward.ts), else stored; either way in this session's send order, without
    // holding its later writes.
    forwardOrStore(state, self, batch, resend, stored, (b, links) => appendThen(state, b, { push: false }, true, stored, onError, links));
    return undefined;
  }
  // Early, a receipt may go at once unless it could overtake the `sent` of one of its messages (session-early.ts).
  return appendThen(state, batch, { push: false, ...(resend ? {} : { receiptFor: messageIds }) }, true, stored, onError);
}

/**
 * A read receipt's failure goes back to the client. A "delivered" receipt
 * that could not be stored after its retries: from now on this session
 * deletes nothing from the inbox, so the acked messages stay, are delivered
 * again to the next session (the SDK drops the repeats) and acked again,
 * which makes their receipt again: the receipt is not lost.
 */
function receiptFailed(state: SessionState, self: SessionRef, rid: number | undefined, error: unknown): void {
  const { services, device } = state;
  if (rid !== undefined) {
    send(self, { t: 'append-failed', rid, error });
    return;
  }
  state.receiptLost = true;
  services.log.error({ event: 'session.receipt_store_failed', user: device.userId, device: device.deviceId, code: (error as { code?: string }).code }, 'delivered receipt not stored; acked messages stay in the inbox');
}

/**
 * Appends `batch` and tells the recipients' sessions: when it is enqueued
 * with a store that assigns ids early (InboxStore.early; `notice` says what
 * may go before it is stored, and its fate is recorded before the caller
 * hears the outcome), else once committed (a duplicate too if
 * `announceDuplicate`). Settles as `append` does.
 */
export function appendAndNotify(state: SessionState, batch: InboxBatch, notice: Omit<EarlyNotice, 'fate'>, announceDuplicate: boolean): Promise<AppendResult> {
  return appendThen(state, batch, notice, announceDuplicate, (result) => result, (error) => Promise.reject(error));
}

/**
 * `appendAndNotify(…).then(onResult, onError)` in one step on the hot path
 * (a store with early ids: one promise per append, not three).
 */
export function appendThen<T>(
  state: SessionState, batch: InboxBatch, notice: Omit<EarlyNotice, 'fate'>, announceDuplicate: boolean,
  onResult: (result: AppendResult) => T | Promise<T>, onError: (error: unknown) => T | Promise<T>,
  links?: readonly SendLink[],
): Promise<T> {
  const { inbox } = state.services;
  if (inbox.early === undefined) {
    return inbox.append(batch).then((result) => {
      if (!result.duplicate || announceDuplicate) notifyCopies(state, result, batch, links);
      return result;
    }).then(onResult, onError);
  }
  const registry = state.services.system.registry;
  const targets = batch.copies.map((c) => registry.whereis(sessionName(c.recipient)) as SessionRef | undefined);
  // Every device online here and the entry may go to it now: the store may wait
  // for their acks and then not write it at all (EarlyIds.append `defer`).
  const defer = (notice.push || notice.receiptFor !== undefined) && targets.every((t) => t !== undefined);
  let appended: ReturnType<EarlyIds['append']>;
  try {
    appended = inbox.early.append(batch, defer ? DEFER : undefined);
  } catch (error) {
    return Promise.reject(error).then(undefined, onError); // a batch invalid on its face, as `append` reports it
  }
  const { ids, stored } = appended;
  const fate: AppendFate = { stored: undefined };
  announceEarly(targets, ids, batch, { ...notice, fate });
  return stored.then(
    (result) => {
      fate.stored = !result.duplicate;
      return onResult(result);
    },
    (error: unknown) => {
      fate.stored = false;
      return onError(error);
    },
  );
}

/**
 * Announces committed copies to their recipients' sessions (wherever in the
 * cluster they run). With several writers each carries `prev`, what this
 * session sent the same device just before: for a message, its predecessor
 * in send order (`links`, made when it was sent: session-forward.ts; made now
 * when absent); for a receipt, the receipt before (its own chain). A duplicate's ids
 * are older than what was announced since: no `prev`.
 */
export function notifyCopies(state: SessionState, result: AppendResult, batch: InboxBatch, links?: readonly SendLink[]): void {
  const registry = state.services.system.registry;
  // `prev` serves only several writers (a single-writer session pushes by id order anyway).
  const chained = state.mw !== undefined;
  for (let i = 0; i < result.copies.length; i++) {
    const copy = result.copies[i]!;
    let prev: string | undefined;
    let prevAlt: string | undefined;
    if (chained) {
      const link = links?.[i] ?? linkTo(state, batch.kind, batch.copies[i]!.recipient);
      if (!result.duplicate) {
        const p = prevOf(link);
        prev = p?.prev;
        prevAlt = p?.prevAlt;
      }
      link.id = copy.id;
      link.pred = undefined;
    }
    const target = registry.whereis(sessionName(copy.recipient)) as SessionRef | undefined;
    if (target === undefined) continue;
    const entry = entryOf(batch, i, copy.id);
    cast(target, prev === undefined ? { t: 'notify', entry } : prevAlt === undefined ? { t: 'notify', entry, prev } : { t: 'notify', entry, prev, prevAlt });
  }
}

const DEFER = { defer: true } as const;

/**
 * Announces an append of a store with early ids (InboxStore.early) to the
 * recipients' sessions on this node (`targets`, per copy), in id order, when
 * it is enqueued.
 */
function announceEarly(targets: readonly (SessionRef | undefined)[], ids: readonly InboxEntryId[], batch: InboxBatch, early: EarlyNotice): void {
  for (let i = 0; i < ids.length; i++) {
    const target = targets[i];
    if (target !== undefined) cast(target, { t: 'notify', entry: entryOf(batch, i, ids[i]!), early });
  }
}

/**
 * The Parley client SDK: one device's connection to a node.
 *
 * - `ParleyClient.register(...)` creates an account and its first device;
 *   `ParleyClient.login(...)` logs an existing device in. Both prove possession
 *   of the identity key by signing the server's nonce.
 * - `send` resolves when the server says `sent` (the message is durable, or
 *   every recipient device has it: to an online device that may be after its ack). A
 *   send survives reconnects: it is retried with the same message id until the
 *   server answers. Every retransmission carries `resend: true` (the first
 *   transmission does not), which tells the server to de-duplicate it.
 * - `messages()` yields each incoming message once; the app calls `ack()` once
 *   it has stored it. Anything not acked is delivered again after a reconnect
 *   and dropped here as a duplicate (then acked), so the app sees it once.
 * - Receipts arrive as `receipt` events (and through `receipts()`), never before
 *   the `send()` of a message they name has resolved.
 * - The socket reconnects by itself with jittered exponential backoff unless
 *   the server closed it for good (e.g. 4409 connected elsewhere).
 *
 * Depends on `protocol/` only (and `ws`), per the layering rule.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  CLOSE_REASONS, CiphertextType, DEFAULT_LIMITS, FrameKind, PROTOCOL_VERSION, ParleyError, ReceiptStatus,
  authSignedBytes, decodeFrame, encodeFrame, errorCodeFromWire, registerSignedBytes,
  type ClientFrame, type CloseCode, type DeliverFrame, type DeviceEnvelope, type ErrorFrame, type MismatchedDevicesFrame,
  type ReceiptNoticeFrame, type ServerFrame, type WelcomeFrame,
} from '../protocol/index.ts';
import { AsyncQueue } from './async-queue.ts';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff.ts';
import { RecentIds } from './recent-ids.ts';

/** Signs with the device's identity private key (libsignal `PrivateKey.sign`). */
export interface IdentitySigner {
  /** Serialized identity public key (33 bytes for Curve25519). */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** Who this device is, once registered. */
export interface DeviceCredentials {
  readonly userId: string;
  readonly deviceId: number;
}

/** Options of a client. */
export interface ClientOptions {
  /**
   * Gateway URL, e.g. `ws://127.0.0.1:8443`, or the gateways of a cluster:
   * the client stays on one while it works and moves to the next one on
   * each reconnect.
   */
  readonly url: string | readonly string[];
  readonly identity: IdentitySigner;
  /** Signal registration id of this device (1..16383). */
  readonly registrationId: number;
  /** Sent in `hello`. @default 'parley-sdk/0.1' */
  readonly clientInfo?: string;
  /** Reconnect delays. @default DEFAULT_BACKOFF */
  readonly backoff?: BackoffOptions;
  /** Reconnect on its own after a recoverable close. @default true */
  readonly reconnect?: boolean;
  /** How many (sender device, message id) pairs are remembered to drop redeliveries. @default 100000 */
  readonly dedupWindow?: number;
}

/** A message delivered to this device. */
export interface IncomingMessage {
  readonly from: string;
  readonly fromDevice: number;
  readonly messageId: string;
  readonly serverTime: number;
  readonly type: CiphertextType;
  readonly ciphertext: Uint8Array;
  /** Tells the server this device has stored the message (it leaves the inbox). */
  ack(): void;
}

/** A delivered/read receipt for messages this user sent. */
export interface Receipt {
  readonly status: ReceiptStatus;
  readonly by: string;
  readonly byDevice: number;
  readonly serverTime: number;
  readonly messageIds: readonly string[];
}

/** Server's answer to a send. */
export interface SendResult {
  readonly messageId: string;
  readonly serverTime: number;
}

/** A send rejected because its device list does not match the recipient's devices. */
export class MismatchedDevicesError extends ParleyError {
  readonly missing: readonly number[];
  readonly extra: readonly number[];
  readonly stale: readonly number[];
  constructor(frame: MismatchedDevicesFrame) {
    super('PARLEY_ERR_MISMATCHED_DEVICES', `devices of ${frame.userId} do not match the send`, {
      details: { userId: frame.userId, missing: frame.missing, extra: frame.extra, stale: frame.stale },
    });
    this.missing = frame.missing;
    this.extra = frame.extra;
    this.stale = frame.stale;
  }
}

interface PendingRequest {
  /** What goes on the wire next: once a send went out, the same frame flagged `resend` (see `transmit`). */
  frame: ClientFrame;
  /** Sent again after a reconnect or a retryable error (idempotent requests: send, receipt). */
  readonly idempotent: boolean;
  resolve(frame: ServerFrame): void;
  reject(err: Error): void;
}

let messageCounter = 0;
/** A message id unique per device: time, counter and randomness, in the protocol's alphabet. */
export function newMessageId(): string {
  messageCounter = (messageCounter + 1) % 0x1000000;
  return `${Date.now().toString(36)}.${messageCounter.toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
}

/** Events: 'receipt' (Receipt), 'connected' (WelcomeFrame), 'disconnected' ({code, reason}), 'closed' ({code, reason}), 'prekeys-low', 'retrying' ({code, rid}: a request failed retryably and goes again). */
export class ParleyClient extends EventEmitter {
  private readonly options: Required<ClientOptions>;
  private credentials: DeviceCredentials | undefined;
  private socket: WebSocket | undefined;
  private generation = 0;
  private ready = false;
  private closedForGood = false;
  private attempt = 0;
  /** Which of several gateway URLs the next connection uses. */
  private urlIndex = 0;
  private nextRid = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly incoming = new AsyncQueue<IncomingMessage>();
  private readonly receiptQueue = new AsyncQueue<Receipt>();
  private readonly seen: RecentIds;
  private ackBuffer: number[] = [];
  private ackScheduled = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private welcome: WelcomeFrame | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryFrom: number | undefined;
  private retryAttempt = 0;

  private constructor(options: ClientOptions, credentials: DeviceCredentials | undefined) {
    super();
    this.options = {
      clientInfo: 'parley-sdk/0.1', backoff: DEFAULT_BACKOFF, reconnect: true, dedupWindow: 100_000, ...options,
    };
    this.credentials = credentials;
    this.seen = new RecentIds(this.options.dedupWindow);
  }

  /** Creates a new account with this device as its first device, and stays connected. */
  static async register(options: ClientOptions): Promise<ParleyClient> {
    const client = new ParleyClient(options, undefined);
    await client.connectOrClose();
    return client;
  }

  /** Logs an existing device in, and stays connected. */
  static async login(options: ClientOptions, credentials: DeviceCredentials): Promise<ParleyClient> {
    const client = new ParleyClient(options, credentials);
    await client.connectOrClose();
    return client;
  }

  /** The first connection; when it fails the caller never gets this client, so it must not live on (reconnecting). */
  private async connectOrClose(): Promise<void> {
    try {
      await this.connectOnce();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** This device's user id and device id. */
  get device(): DeviceCredentials {
    if (!this.credentials) throw new ParleyError('PARLEY_ERR_NOT_AUTHENTICATED', 'not registered yet');
    return this.credentials;
  }

  /** True while authenticated on an open socket. */
  get connected(): boolean {
    return this.ready;
  }

  /**
   * Sends one message to every device of `to`. `content` is either one opaque
   * payload for all devices (before end-to-end encryption) or one envelope per
   * recipient device. Resolves on `sent`; retried across reconnects (each
   * retransmission flagged `resend`).
   *
   * `options.resend`: set it when this `messageId` may have been sent before
   * by an earlier call or an earlier client (an app retrying after a failure
   * or a restart): the server then returns the original `sent` instead of
   * storing the message again. Without it the server does not look for a
   * duplicate of a first transmission. @default false
   */
  send(to: string, content: Uint8Array | DeviceEnvelope[], options: { messageId?: string; resend?: boolean } = {}): Promise<SendResult> {
    const envelopes: DeviceEnvelope[] = content instanceof Uint8Array
      ? [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: content }]
      : content;
    const messageId = options.messageId ?? newMessageId();
    const frame: ClientFrame = options.resend === true
      ? { kind: FrameKind.Send, rid: 0, messageId, to, envelopes, resend: true }
      : { kind: FrameKind.Send, rid: 0, messageId, to, envelopes };
    return this.request(frame, true).then((frame) => {
      if (frame.kind !== FrameKind.Sent) throw new ParleyError('PARLEY_ERR_INTERNAL', `unexpected answer ${frame.kind} to send`);
      return { messageId: frame.messageId, serverTime: frame.serverTime };
    });
  }

  /** Tells the senders (all devices of `to`) that the user read these messages. */
  async markRead(to: string, messageIds: string[]): Promise<void> {
    for (let i = 0; i < messageIds.length; i += DEFAULT_LIMITS.maxIdsPerReceipt) {
      await this.request({
        kind: FrameKind.Receipt, rid: 0, status: ReceiptStatus.Read, to, messageIds: messageIds.slice(i, i + DEFAULT_LIMITS.maxIdsPerReceipt),
      }, true);
    }
  }

  /** Incoming messages, each once, in delivery order. */
  messages(): AsyncIterable<IncomingMessage> {
    return this.incoming;
  }

  /** Incoming receipts (also emitted as 'receipt' events). */
  receipts(): AsyncIterable<Receipt> {
    return this.receiptQueue;
  }

  /** Closes the connection for good: pending requests reject, iterators end. */
  async close(): Promise<void> {
    this.closedForGood = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    this.flushAcks();
    const socket = this.socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.close(1000, 'client closing');
      await closed;
    }
    this.finish(new ParleyError('PARLEY_ERR_SHUTTING_DOWN', 'client closed'));
  }

  /** Drops the socket without a close handshake (tests: a network failure). The client reconnects. */
  dropConnection(): void {
    this.socket?.terminate();
  }

  /**
   * Sends a request frame (its `rid` is assigned here) and resolves with the
   * server's answer (`ok`, `sent`, `prekey-bundles`, …), or rejects with the
   * ParleyError of an `error` frame. An `idempotent` request survives
   * reconnects and retryable errors (it is sent again, a send flagged
   * `resend`); otherwise a lost connection rejects it. Layers above
   * (end-to-end encryption) use it for pre-key requests.
   */
  request(frame: ClientFrame, idempotent: boolean): Promise<ServerFrame> {
    if (this.closedForGood) return Promise.reject(new ParleyError('PARLEY_ERR_SHUTTING_DOWN', 'client closed'));
    const rid = this.nextRid++ >>> 0;
    const withRid = { ...frame, rid } as ClientFrame;
    return new Promise<ServerFrame>((resolve, reject) => {
      const p: PendingRequest = { frame: withRid, idempotent, resolve, reject };
      this.pending.set(rid, p);
      if (this.ready) {
        // Acks queued earlier go first: a read receipt must not overtake the ack it follows.
        if (this.ackBuffer.length > 0) this.flushAcks();
        this.transmit(p);
      }
    });
  }

  /**
   * Writes a pending request. Once a send has gone out, whatever became of
   * it, every later transmission is a retransmission: flagged `resend`, so
   * the server looks for the stored original instead of storing it twice.
   */
  private transmit(p: PendingRequest): void {
    if (!this.write(p.frame)) return;
    if (p.frame.kind === FrameKind.Send && p.frame.resend !== true) p.frame = { ...p.frame, resend: true };
  }

  /** Writes a frame on the open socket; false when there is none (nothing went out). */
  private write(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeFrame(frame));
    return true;
  }

  /** Opens a socket and runs hello → challenge → register/auth → welcome. */
  private connectOnce(): Promise<void> {
    const generation = ++this.generation;
    const urls = this.options.url;
    const url = typeof urls === 'string' ? urls : urls[this.urlIndex % urls.length]!;
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: DEFAULT_LIMITS.maxFrameBytes });
    this.socket = socket;
    this.ready = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      socket.on('open', () => this.write({ kind: FrameKind.Hello, rid: 0, version: PROTOCOL_VERSION, clientInfo: this.options.clientInfo }));
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (generation !== this.generation) return;
        this.touch();
        const decoded = decodeFrame(isBinary ? data : new Uint8Array(0));
        if (!decoded.ok) {
          socket.close(4400, 'malformed server frame');
          return settle(new ParleyError(decoded.error.code, `server sent a bad frame: ${decoded.error.message}`));
        }
        const frame = decoded.frame as ServerFrame;
        if (!this.ready) return this.handshake(frame, settle);
        this.onFrame(frame, generation);
      });
      socket.on('error', () => { /* 'close' follows and decides */ });
      socket.on('close', (code: number, reasonBuffer: Buffer) => {
        if (generation !== this.generation) return;
        const reason = reasonBuffer.toString();
        const wasReady = this.ready;
        this.ready = false;
        clearTimeout(this.idleTimer);
        const known = CLOSE_REASONS[code as CloseCode];
        const recoverable = code === 1006 || code === 1005 || (known?.reconnect ?? false);
        if (!settled) {
          // Never got to ready: the caller of register/login decides.
          settle(new ParleyError(codeForClose(code), `connection closed before login: ${code} ${reason}`, { details: { closeCode: code } }));
          if (!wasReady && this.credentials === undefined) return;
        }
        this.emit('disconnected', { code, reason });
        if (this.closedForGood) return;
        if (!recoverable || !this.options.reconnect) {
          this.emit('closed', { code, reason });
          this.finish(new ParleyError(codeForClose(code), `connection closed: ${code} ${reason}`, { details: { closeCode: code } }));
          return;
        }
        this.scheduleReconnect();
      });
    });
  }

  private handshake(frame: ServerFrame, settle: (err?: Error) => void): void {
    switch (frame.kind) {
      case FrameKind.Challenge: {
        if (this.credentials) {
          const { userId, deviceId } = this.credentials;
          this.write({ kind: FrameKind.Auth, rid: 0, userId, deviceId, signature: this.options.identity.sign(authSignedBytes(frame.nonce, userId, deviceId)) });
        } else {
          const { publicKey } = this.options.identity;
          const signature = this.options.identity.sign(registerSignedBytes(frame.nonce, publicKey, this.options.registrationId, null));
          this.write({ kind: FrameKind.Register, rid: 0, identityKey: publicKey, registrationId: this.options.registrationId, signature, linkToken: null });
        }
        return;
      }
      case FrameKind.Welcome: {
        this.credentials = { userId: frame.userId, deviceId: frame.deviceId };
        this.welcome = frame;
        this.ready = true;
        this.attempt = 0;
        this.touch();
        // Requests that were in flight when the last socket died go again, in order.
        for (const [, p] of [...this.pending].sort((a, b) => a[0] - b[0])) this.transmit(p);
        this.emit('connected', frame);
        return settle();
      }
      case FrameKind.Error:
        return settle(wireError(frame));
      case FrameKind.Ping:
        this.write({ kind: FrameKind.Pong, rid: frame.rid });
        return;
      default:
        return;
    }
  }

  private onFrame(frame: ServerFrame, generation: number): void {
    switch (frame.kind) {
      case FrameKind.Deliver:
        return this.onDeliver(frame, generation);
      case FrameKind.ReceiptNotice:
        return this.onReceipt(frame, generation);
      case FrameKind.Sent:
      case FrameKind.Ok:
      case FrameKind.PreKeyBundles:
      case FrameKind.LinkToken:
        return this.settle(frame.rid, frame);
      case FrameKind.MismatchedDevices:
        return this.fail(frame.rid, new MismatchedDevicesError(frame));
      case FrameKind.Error:
        if (frame.rid !== null && this.pending.has(frame.rid)) {
          const err = wireError(frame);
          const p = this.pending.get(frame.rid)!;
          if (err.retryable && p.idempotent) {
            this.emit('retrying', { code: err.code, rid: frame.rid });
            this.resendFrom(frame.rid);
            return;
          }
          return this.fail(frame.rid, err);
        }
        this.emit('server-error', wireError(frame));
        return;
      case FrameKind.Ping:
        this.write({ kind: FrameKind.Pong, rid: frame.rid });
        return;
      case FrameKind.PreKeysLow:
        // It may arrive in the same read as `welcome`, before the caller of
        // login() had a chance to listen: emit it on the next turn.
        setImmediate(() => this.emit('prekeys-low', frame));
        return;
      default:
        return;
    }
  }

  private onDeliver(frame: DeliverFrame, generation: number): void {
    const key = `${frame.from}/${frame.fromDevice}/${frame.messageId}`;
    if (!this.seen.add(key)) {
      // A redelivery of something the app already has: just confirm it.
      this.queueAck(frame.seq, generation);
      return;
    }
    let acked = false;
    this.incoming.push({
      from: frame.from, fromDevice: frame.fromDevice, messageId: frame.messageId, serverTime: frame.serverTime,
      type: frame.type, ciphertext: frame.ciphertext,
      ack: () => {
        if (acked) return;
        acked = true;
        this.queueAck(frame.seq, generation);
      },
    });
  }

  private onReceipt(frame: ReceiptNoticeFrame, generation: number): void {
    const receipt: Receipt = { status: frame.status, by: frame.by, byDevice: frame.byDevice, serverTime: frame.serverTime, messageIds: frame.messageIds };
    // The server writes a message's `sent` before any receipt for it, but both
    // may arrive in one read: `send()` resolves through promise jobs, so the
    // receipt goes out after them (next turn; receipts keep their order).
    setImmediate(() => {
      this.receiptQueue.push(receipt);
      this.emit('receipt', receipt);
    });
    this.queueAck(frame.seq, generation);
  }

  /** Acks of one socket go out together once per event-loop turn. Seqs of an older socket are meaningless: dropped. */
  private queueAck(seq: number, generation: number): void {
    if (generation !== this.generation || !this.ready) return;
    this.ackBuffer.push(seq);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  private flushAcks(): void {
    this.ackScheduled = false;
    const seqs = this.ackBuffer;
    this.ackBuffer = [];
    for (let i = 0; i < seqs.length; i += DEFAULT_LIMITS.maxIdsPerAck) {
      this.write({ kind: FrameKind.Ack, rid: 0, seqs: seqs.slice(i, i + DEFAULT_LIMITS.maxIdsPerAck) });
    }
  }

  /**
   * After a retryable failure of request `rid`: once, after a backoff, resend
   * every pending idempotent request from `rid` on, in order (the server
   * refuses later sends until the failed one comes again, so order holds;
   * the sends go flagged `resend`, so duplicates are de-duplicated by message id).
   */
  private resendFrom(rid: number): void {
    this.retryFrom = this.retryFrom === undefined ? rid : Math.min(this.retryFrom, rid);
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      const from = this.retryFrom!;
      this.retryTimer = undefined;
      this.retryFrom = undefined;
      if (!this.ready) return; // the reconnect resends everything anyway
      for (const [r, p] of [...this.pending].sort((a, b) => a[0] - b[0])) {
        if (r >= from && p.idempotent) this.transmit(p);
      }
    }, backoffDelay(this.retryAttempt++, this.options.backoff));
  }

  private settle(rid: number, frame: ServerFrame): void {
    const p = this.pending.get(rid);
    if (!p) return;
    this.pending.delete(rid);
    if (this.retryTimer === undefined) this.retryAttempt = 0;
    p.resolve(frame);
  }

  private fail(rid: number, err: Error): void {
    const p = this.pending.get(rid);
    if (!p) return;
    this.pending.delete(rid);
    p.reject(err);
  }

  /** A server silent for 3 ping intervals is presumed dead: drop the socket and reconnect. */
  private touch(): void {
    clearTimeout(this.idleTimer);
    const interval = this.welcome?.pingIntervalMs ?? 15_000;
    this.idleTimer = setTimeout(() => this.socket?.terminate(), interval * 3);
    this.idleTimer.unref();
  }

  private scheduleReconnect(): void {
    // Requests that cannot be resent fail now; the others wait for the next socket.
    for (const [rid, p] of this.pending) {
      if (!p.idempotent) this.fail(rid, new ParleyError('PARLEY_ERR_SERVICE_UNAVAILABLE', 'connection lost'));
    }
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.urlIndex++;
    this.reconnectTimer = setTimeout(() => {
      if (this.closedForGood) return;
      this.connectOnce().catch(() => { /* the close handler schedules the next attempt */ });
    }, delay);
  }

  private finish(err: Error): void {
    this.closedForGood = true;
    for (const [rid] of this.pending) this.fail(rid, err);
    this.incoming.end();
    this.receiptQueue.end();
  }
}

function wireError(frame: ErrorFrame): ParleyError {
  const code = errorCodeFromWire(frame.code) ?? 'PARLEY_ERR_INTERNAL';
  return new ParleyError(code, frame.message, { details: { wire: frame.code, field: frame.field } });
}

function codeForClose(code: number): ParleyError['code'] {
  switch (code) {
    case 4401: return 'PARLEY_ERR_AUTH_FAILED';
    case 4409: return 'PARLEY_ERR_CONNECTED_ELSEWHERE';
    case 4403: return 'PARLEY_ERR_DEVICE_REMOVED';
    case 4426: return 'PARLEY_ERR_UNSUPPORTED_VERSION';
    case 4450: return 'PARLEY_ERR_SLOW_CONSUMER';
    case 4400: return 'PARLEY_ERR_MALFORMED_FRAME';
    default: return 'PARLEY_ERR_SERVICE_UNAVAILABLE';
  }
}

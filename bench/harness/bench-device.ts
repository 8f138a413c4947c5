/**
 * One load-generator device: a `ws` socket bound to a loopback source
 * address, speaking the wire protocol directly (hello → challenge →
 * register/auth → welcome, pong to pings, ack of deliveries) with no SDK
 * promise or queue per message, so one worker holds 19,000 of them.
 *
 * Each account has its own libsignal identity key (the server keeps identity
 * keys unique); the key pair stays in the worker for later `auth` logins.
 */
import WebSocket from 'ws';
import type { IdentityKeyPair } from '@signalapp/libsignal-client';
import {
  ERROR_CODES, FrameKind, PROTOCOL_VERSION, authSignedBytes, decodeFrame, encodeFrame, errorCodeFromWire, registerSignedBytes,
  type ClientFrame, type DeliverFrame, type ServerFrame,
} from '../../protocol/index.ts';
import type { WorkerStats } from './worker-stats.ts';

/** An account's device and the identity that logs it in. */
export interface Credentials {
  readonly userId: string;
  readonly deviceId: number;
  readonly identity: IdentityKeyPair;
}

/** How a device logs in: register a new account with `identity`, or log an existing one in. */
export type Login = { readonly register: true; readonly identity: IdentityKeyPair } | { readonly register: false; readonly credentials: Credentials };

export interface DeviceOptions {
  readonly url: string;
  readonly localAddress: string;
  readonly registrationId: number;
  readonly heartbeats: boolean;
  /** Handshake bound: not welcomed by then counts as `timeout`. */
  readonly timeoutMs: number;
}

const MAX_SEND_ATTEMPTS = 5;
const RESEND_DELAY_MS = 50;

/** A logged-in device. */
export class BenchDevice {
  /** Set by scenarios: a delivery for this device (acked by the device). */
  onDeliver: ((frame: DeliverFrame) => void) | undefined;
  /** Set by scenarios: a `sent` for this device's send with `rid`. */
  onSent: ((rid: number) => void) | undefined;
  /** Set by scenarios: the server refused a request for good (an `error` frame; retryable sends are retried first); the error is already counted. */
  onRefused: ((rid: number | null) => void) | undefined;
  /** Set by scenarios: the socket closed (for any reason). */
  onClose: (() => void) | undefined;
  private acks: number[] = [];
  /** Sends not yet answered by `sent`, by rid: a refused one is sent again with the same message id, as a client does. */
  private readonly pending = new Map<number, { readonly to: string; readonly messageId: string; readonly ciphertext: Uint8Array; readonly attempt: number }>();
  private nextRid = 10;
  /** The harness itself closed the socket: its close is not an error. */
  private closing = false;
  open = true;

  constructor(readonly ws: WebSocket, readonly credentials: Credentials, private readonly stats: WorkerStats) {}

  send(frame: ClientFrame): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeFrame(frame));
  }

  /** Sends an opaque message to `to`; returns its rid. */
  sendMessage(to: string, messageId: string, ciphertext: Uint8Array, attempt = 1): number {
    const rid = this.nextRid++ >>> 0;
    this.pending.set(rid, { to, messageId, ciphertext, attempt });
    // A retry is flagged: the server then looks the message id up (the first attempt may have been stored).
    this.send({ kind: FrameKind.Send, rid, messageId, to, envelopes: [{ deviceId: 0, registrationId: 0, type: 0, ciphertext }], ...(attempt > 1 ? { resend: true } : {}) });
    return rid;
  }

  /**
   * Closes without a close handshake (a dropped client), not counted as an
   * error. A TCP reset, not a FIN: the client end keeps no TIME_WAIT, whose
   * 60 s would hold the source port and exhaust the address on reconnects.
   */
  drop(): void {
    this.closing = true;
    const raw = (this.ws as unknown as { _socket?: { resetAndDestroy?: () => void } })._socket;
    if (raw?.resetAndDestroy !== undefined) raw.resetAndDestroy();
    else this.ws.terminate();
  }

  /** Called for every frame after the welcome. */
  handle(frame: ServerFrame): void {
    switch (frame.kind) {
      case FrameKind.Deliver:
        this.ack(frame.seq);
        this.onDeliver?.(frame);
        return;
      case FrameKind.ReceiptNotice:
        this.ack(frame.seq);
        return;
      case FrameKind.Sent:
        this.pending.delete(frame.rid);
        this.onSent?.(frame.rid);
        return;
      case FrameKind.Error: {
        const code = errorCodeFromWire(frame.code);
        this.stats.error(code ?? `wire:${frame.code}`);
        const failed = frame.rid === null ? undefined : this.pending.get(frame.rid);
        if (failed !== undefined) {
          this.pending.delete(frame.rid!);
          if (code !== undefined && ERROR_CODES[code].retryable && failed.attempt < MAX_SEND_ATTEMPTS) {
            // The same message again after a pause (the server keeps per-sender order by waiting for it).
            setTimeout(() => { if (this.open) this.sendMessage(failed.to, failed.messageId, failed.ciphertext, failed.attempt + 1); }, RESEND_DELAY_MS);
            return;
          }
        }
        this.onRefused?.(frame.rid);
        return;
      }
      default:
        return;
    }
  }

  closed(code: number): void {
    if (!this.open) return;
    this.open = false;
    if (!this.closing) {
      this.stats.closedByServer++;
      this.stats.error(`close:${code}`);
    }
    this.onClose?.();
  }

  /** Acks are batched per event-loop turn, as a real client's storage commit would. */
  private ack(seq: number): void {
    if (this.acks.length === 0) setImmediate(() => this.flushAcks());
    this.acks.push(seq);
  }

  private flushAcks(): void {
    const seqs = this.acks;
    this.acks = [];
    this.send({ kind: FrameKind.Ack, rid: 0, seqs });
  }
}

/**
 * Opens a socket from `localAddress`, logs in, and resolves with the device
 * (the caller records the login), or with undefined after counting the
 * failure by code (never rejects). `init` sets the device's hooks at once.
 */
export function openDevice(options: DeviceOptions, login: Login, stats: WorkerStats, init?: (device: BenchDevice) => void): Promise<BenchDevice | undefined> {
  stats.opened++;
  return new Promise((resolve) => {
    let device: BenchDevice | undefined;
    let settled = false;
    const ws = new WebSocket(options.url, { perMessageDeflate: false, localAddress: options.localAddress, handshakeTimeout: options.timeoutMs });
    const fail = (code: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stats.error(code);
      ws.terminate();
      resolve(undefined);
    };
    const timer = setTimeout(() => fail('timeout'), options.timeoutMs);
    ws.on('open', () => ws.send(encodeFrame({ kind: FrameKind.Hello, rid: 1, version: PROTOCOL_VERSION, clientInfo: 'parley-bench' })));
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (!settled) fail(err.code ?? 'socket-error');
      else stats.error(err.code ?? 'socket-error');
    });
    ws.on('close', (code: number) => {
      if (!settled) fail(`close:${code}`);
      else device?.closed(code);
    });
    ws.on('message', (data: Buffer) => {
      const decoded = decodeFrame(data);
      if (!decoded.ok) {
        stats.error(`decode:${decoded.error.code}`);
        return;
      }
      const frame = decoded.frame as ServerFrame;
      if (frame.kind === FrameKind.Ping) {
        if (options.heartbeats) {
          ws.send(encodeFrame({ kind: FrameKind.Pong, rid: frame.rid }));
          stats.pingsAnswered++;
        }
        return;
      }
      if (device !== undefined) return device.handle(frame);
      if (frame.kind === FrameKind.Challenge) {
        const { registrationId } = options;
        if (login.register) {
          const { identity } = login;
          const identityKey = identity.publicKey.serialize();
          const signature = identity.privateKey.sign(registerSignedBytes(frame.nonce, identityKey, registrationId, null));
          ws.send(encodeFrame({ kind: FrameKind.Register, rid: 2, identityKey, registrationId, signature, linkToken: null }));
        } else {
          const { userId, deviceId, identity } = login.credentials;
          const signature = identity.privateKey.sign(authSignedBytes(frame.nonce, userId, deviceId));
          ws.send(encodeFrame({ kind: FrameKind.Auth, rid: 2, userId, deviceId, signature }));
        }
      } else if (frame.kind === FrameKind.Welcome) {
        settled = true;
        clearTimeout(timer);
        const identity = login.register ? login.identity : login.credentials.identity;
        device = new BenchDevice(ws, { userId: frame.userId, deviceId: frame.deviceId, identity }, stats);
        // Hooks go on before the next frame: the node corks the welcome and the first deliveries into one
        // chunk, whose frames `ws` emits synchronously, before any promise continuation runs.
        init?.(device);
        resolve(device);
      } else if (frame.kind === FrameKind.Error) {
        fail(errorCodeFromWire(frame.code) ?? `wire:${frame.code}`);
      }
    });
  });
}

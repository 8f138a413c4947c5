/**
 * A raw protocol client for end-to-end tests: a bare `ws` socket that sends
 * whatever bytes a test wants (the SDK refuses to send garbage) and records
 * every frame and the close it gets back. Frames are decoded with the
 * protocol's own decoder; a frame the decoder refuses is kept as `undefined`
 * and counted in `undecodable`, so a test can assert the server never sends one.
 *
 * Waits are conditions bounded by a deadline (a safety net against a hang, not
 * a timing assertion): `next`, `closed`, `waitUntil`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import {
  FrameKind, PROTOCOL_VERSION, authSignedBytes, decodeFrame, encodeFrame, registerSignedBytes,
  type ChallengeFrame, type ClientFrame, type Frame, type ServerFrame, type WelcomeFrame,
} from '../../protocol/index.ts';
import type { DeviceCredentials, IdentitySigner } from '../../client/index.ts';
import { prng } from './prng.ts';

/** How a socket ended. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** Safety bound of every wait here; a test that hits it fails instead of hanging. */
export const WAIT_BOUND_MS = 15_000;

export class RawSocket {
  /** Every frame received, in order (server frames as decoded). */
  readonly frames: ServerFrame[] = [];
  /** Frames the protocol decoder refused (the server must never send one). */
  undecodable = 0;
  /** Answer every server `ping` with a `pong` (as a live client does). */
  answerPings = false;
  /** Set once the socket closed. */
  closeInfo: CloseInfo | undefined;
  private cursor = 0;
  private readonly waiters = new Set<() => void>();
  private readonly closedPromise: Promise<CloseInfo>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      const decoded = decodeFrame(binary ? new Uint8Array(data) : new Uint8Array(0));
      if (decoded.ok) {
        this.frames.push(decoded.frame as ServerFrame);
        if (this.answerPings && decoded.frame.kind === FrameKind.Ping) this.sendFrame({ kind: FrameKind.Pong, rid: decoded.frame.rid });
      } else this.undecodable++;
      this.notify();
    });
    ws.on('error', () => { /* 'close' follows */ });
    this.closedPromise = new Promise<CloseInfo>((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.notify();
      });
    });
  }

  /** Opens a socket to `url` (no frame sent yet). */
  static async open(url: string, options: { maxPayload?: number } = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: options.maxPayload ?? 64 * 1024 * 1024 });
    const raw = new RawSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return raw;
  }

  /** Opens a socket and completes `hello` → `challenge`. */
  static async hello(url: string): Promise<{ raw: RawSocket; challenge: ChallengeFrame }> {
    const raw = await RawSocket.open(url);
    raw.sendFrame({ kind: FrameKind.Hello, rid: 1, version: PROTOCOL_VERSION, clientInfo: 'raw-test' });
    const challenge = await raw.next((f) => f.kind === FrameKind.Challenge) as ChallengeFrame;
    return { raw, challenge };
  }

  /** Opens a socket and registers a new account with `identity`. */
  static async register(url: string, identity: IdentitySigner, registrationId: number): Promise<{ raw: RawSocket; welcome: WelcomeFrame }> {
    const { raw, challenge } = await RawSocket.hello(url);
    const signature = identity.sign(registerSignedBytes(challenge.nonce, identity.publicKey, registrationId, null));
    raw.sendFrame({ kind: FrameKind.Register, rid: 2, identityKey: identity.publicKey, registrationId, signature, linkToken: null });
    const welcome = await raw.next((f) => f.kind === FrameKind.Welcome) as WelcomeFrame;
    return { raw, welcome };
  }

  /** Opens a socket and logs an existing device in. */
  static async login(url: string, identity: IdentitySigner, device: DeviceCredentials): Promise<{ raw: RawSocket; welcome: WelcomeFrame }> {
    const { raw, challenge } = await RawSocket.hello(url);
    const signature = identity.sign(authSignedBytes(challenge.nonce, device.userId, device.deviceId));
    raw.sendFrame({ kind: FrameKind.Auth, rid: 2, userId: device.userId, deviceId: device.deviceId, signature });
    const welcome = await raw.next((f) => f.kind === FrameKind.Welcome) as WelcomeFrame;
    return { raw, welcome };
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame encoded by the protocol's encoder (any kind, also server-only ones). */
  sendFrame(frame: ClientFrame | Frame): void {
    this.sendBytes(encodeFrame(frame));
  }

  /** Sends `bytes` as one binary message (ignored once the socket is closing). */
  sendBytes(bytes: Uint8Array): void {
    if (this.open) this.ws.send(bytes, { binary: true });
  }

  /** Sends a text message (not part of the protocol). */
  sendText(text: string): void {
    if (this.open) this.ws.send(text, { binary: false });
  }

  /**
   * The next received frame (after those already returned) that matches
   * `match`; frames before it are skipped. Rejects if the socket closes first.
   */
  async next(match: (f: ServerFrame) => boolean = () => true, what = 'a frame'): Promise<ServerFrame> {
    const at = await this.waitFor(match, this.cursor, what);
    this.cursor = at + 1;
    return this.frames[at]!;
  }

  /** Index of the first frame at or after `from` that matches; rejects if the socket closes first. */
  async waitFor(match: (f: ServerFrame) => boolean, from = 0, what = 'a frame'): Promise<number> {
    const deadline = performance.now() + WAIT_BOUND_MS;
    let i = from;
    for (;;) {
      for (; i < this.frames.length; i++) if (match(this.frames[i]!)) return i;
      if (this.closeInfo !== undefined) throw new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) before ${what}`);
      if (performance.now() > deadline) throw new Error(`no ${what} within the wait bound`);
      await this.changed();
    }
  }

  /** Resolves with the close (the socket may already be closed). */
  closed(): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('socket not closed within the wait bound')), WAIT_BOUND_MS);
    });
    return Promise.race([this.closedPromise, bound]).finally(() => clearTimeout(timer));
  }

  /** Closes from this side (1000) and waits for the close; terminates a peer that does not answer. */
  async close(): Promise<void> {
    if (this.closeInfo !== undefined) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'test done');
    else this.ws.terminate();
    await this.closed().catch(() => {
      this.ws.terminate();
      return this.closedPromise;
    });
  }

  private notify(): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) w();
  }

  /** Resolves on the next frame or close, or after a short poll interval (re-checks the deadline). */
  private changed(): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => { clearTimeout(timer); this.waiters.delete(wake); resolve(); };
      const timer = setTimeout(wake, 250);
      this.waiters.add(wake);
    });
  }
}

/** Waits until `condition()` holds, re-checking every few ms, failing with `what` after the wait bound. */
export async function waitUntil(condition: () => boolean, what: string, boundMs = WAIT_BOUND_MS): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(5);
  }
}

/** Seeded randomness for fuzz storms (prng.ts): the same seed gives the same storm every run. */
export class SeededRandom {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

let gcFn: (() => void) | undefined;
/** A full garbage collection: `global.gc` when exposed, else enabled at run time through V8 flags. */
export function forceGc(): void {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      setFlagsFromString('--expose_gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

/** Heap in use after forced collections (several, so weak/finalized objects are really gone). */
export async function settledHeapUsed(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    forceGc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  forceGc();
  return process.memoryUsage().heapUsed;
}

/** `promise`, or a rejection naming `what` after the wait bound (a hang becomes a failure). */
export async function bounded<T>(promise: Promise<T>, what: string, boundMs = WAIT_BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), boundMs);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SecureClient: end-to-end encrypted messaging over a ParleyClient, with
 * libsignal (PQXDH session setup, Double Ratchet) on this device's local
 * SQLite store. The server relays and stores only ciphertext.
 *
 * - `register` creates the identity and registration id, registers, and
 *   uploads a signed pre-key, a Kyber last-resort key and `preKeyBatch` (100)
 *   one-time EC and Kyber keys. `open` logs an existing device in.
 * - On `prekeys-low` it uploads more one-time keys by itself.
 *   `rotateSignedPreKeys()` replaces the signed and last-resort keys; the old
 *   private halves stay for `signedKeyGraceMs` so sessions started against
 *   the old bundle still open.
 * - `send(to, content)` encrypts once per device of `to` (fetching bundles of
 *   all its devices when it has no session) and answers `mismatched-devices`
 *   by fetching missing/stale devices' bundles and dropping removed ones,
 *   then retries with the same message id.
 * - `messages()` yields decrypted typed contents; libsignal's duplicate
 *   detection drops a replayed ciphertext (event 'duplicate'). A decrypted
 *   message is kept locally until the app acks it, so a redelivery after a
 *   crash is not lost.
 * - Identity changes are events ('identity-change'); `safetyNumber` and
 *   `verifySafetyNumber` use libsignal's Fingerprint; `trustIdentity`
 *   accepts a changed key of a verified contact.
 *
 * Events: 'identity-change' (IdentityChangeEvent), 'duplicate' and
 * 'decrypt-error' ({from, fromDevice, messageId, code?}), 'prekeys-replenished'
 * ({ec, kyber}), 'keys-rotated' ({signedPreKeyId, lastResortId}), 'error' is never emitted.
 */
import { EventEmitter } from 'node:events';
import {
  ErrorCode, Fingerprint, IdentityKeyPair, KEMPublicKey, LibSignalErrorBase, PreKeyBundle, PreKeySignalMessage, ProtocolAddress,
  PublicKey, ScannableFingerprint, SignalMessage, processPreKeyBundle, signalDecrypt, signalDecryptPreKey, signalEncrypt,
} from '@signalapp/libsignal-client';
import {
  CiphertextType, ParleyError, type DeviceEnvelope, type PreKeyBundle as WireBundle, type PreKeysLowFrame,
} from '../../protocol/index.ts';
import { AsyncQueue } from '../async-queue.ts';
import type { BackoffOptions } from '../backoff.ts';
import { libsignalIdentity } from '../identity.ts';
import {
  MismatchedDevicesError, ParleyClient, newMessageId,
  type DeviceCredentials, type IncomingMessage, type Receipt, type SendResult,
} from '../parley-client.ts';
import { decodeContent, encodeContent, type Content } from './content.ts';
import { fetchPreKeyBundles, uploadPreKeys } from './key-requests.ts';
import { LocalStore } from './local-store.ts';
import {
  META, generateLastResortKyberKey, generateOneTimeKyberPreKeys, generateOneTimePreKeys, generateSignedPreKey,
} from './prekey-generation.ts';
import { signalStores, type IdentityChangeEvent, type SignalStores } from './signal-stores.ts';

/** Options of a SecureClient. */
export interface SecureClientOptions {
  /** Gateway URL. */
  readonly url: string;
  /** This device's local SQLite file (created by `register`). */
  readonly storePath: string;
  /** One-time EC and Kyber keys per upload. @default 100 (the protocol's maximum) */
  readonly preKeyBatch?: number;
  /** How long replaced signed / last-resort private keys are kept. @default 2592000000 (30 days) */
  readonly signedKeyGraceMs?: number;
  readonly backoff?: BackoffOptions;
  readonly reconnect?: boolean;
  readonly clientInfo?: string;
}

/** A decrypted incoming message. */
export interface SecureMessage {
  readonly from: string;
  readonly fromDevice: number;
  readonly messageId: string;
  readonly serverTime: number;
  /** The sender's clock when it sent (from inside the ciphertext). */
  readonly sentAt: number;
  readonly content: Content;
  /** The app stored it: it leaves the server's inbox and the local pending table. */
  ack(): void;
}

/** A safety number of this user and a contact (libsignal Fingerprint, version 2). */
export interface SafetyNumber {
  /** 60 digits, the same on both phones. */
  readonly displayable: string;
  /** What the QR code carries; the other side passes it to `verifySafetyNumber`. */
  readonly scannable: Uint8Array;
  /** The contact's device whose identity key it covers. */
  readonly deviceId: number;
}

const FINGERPRINT_ITERATIONS = 5200;
const FINGERPRINT_VERSION = 2;
const MAX_SEND_ATTEMPTS = 4;
const text = new TextEncoder();

export class SecureClient extends EventEmitter {
  private readonly incoming = new AsyncQueue<SecureMessage>();
  private readonly stores: SignalStores;
  private readonly localAddress: ProtocolAddress;
  private chain: Promise<unknown> = Promise.resolve();
  private replenishing: Promise<void> | undefined;
  private readonly pumped: Promise<void>;
  private closed = false;

  private constructor(
    readonly transport: ParleyClient,
    private readonly local: LocalStore,
    private readonly pair: IdentityKeyPair,
    readonly registrationId: number,
    private readonly options: SecureClientOptions,
  ) {
    super();
    this.stores = signalStores(local, pair, registrationId, (e) => this.emit('identity-change', e));
    const me = transport.device;
    this.localAddress = ProtocolAddress.new(me.userId, me.deviceId);
    transport.on('prekeys-low', (frame: PreKeysLowFrame) => {
      this.replenishPreKeys(frame).catch(() => { /* told again on the next login or fetch */ });
    });
    this.pumped = this.pump();
  }

  /** Creates an identity and an account with this device, and uploads its keys. `storePath` must not hold a device yet. */
  static async register(options: SecureClientOptions): Promise<SecureClient> {
    const local = new LocalStore(options.storePath);
    try {
      if (local.getMeta('identity') !== undefined) throw new ParleyError('PARLEY_ERR_CONFIG', `${options.storePath} already holds a device; use open()`);
      const pair = IdentityKeyPair.generate();
      const registrationId = 1 + Math.floor(Math.random() * 16383);
      // persisted before the network: a lost reply must not lose the key the server now knows
      local.setMeta('identity', pair.serialize());
      local.setNumber('registration-id', registrationId);
      const transport = await ParleyClient.register({ ...transportOptions(options), identity: libsignalIdentity(pair), registrationId });
      local.setText('user-id', transport.device.userId);
      local.setNumber('device-id', transport.device.deviceId);
      const client = new SecureClient(transport, local, pair, registrationId, options);
      await client.uploadInitialKeys();
      return client;
    } catch (err) {
      local.close();
      throw err;
    }
  }

  /** Logs the device stored at `storePath` in, with its sessions and keys. */
  static async open(options: SecureClientOptions): Promise<SecureClient> {
    const local = new LocalStore(options.storePath);
    try {
      const identity = local.getMeta('identity');
      const registrationId = local.getNumber('registration-id');
      const userId = local.getText('user-id');
      const deviceId = local.getNumber('device-id');
      if (identity === undefined || registrationId === undefined || userId === undefined || deviceId === undefined) {
        throw new ParleyError('PARLEY_ERR_CONFIG', `${options.storePath} holds no registered device`);
      }
      const pair = IdentityKeyPair.deserialize(identity);
      const transport = await ParleyClient.login({ ...transportOptions(options), identity: libsignalIdentity(pair), registrationId }, { userId, deviceId });
      const client = new SecureClient(transport, local, pair, registrationId, options);
      if (local.getNumber(META.currentSigned) === undefined) {
        // registered (or re-installed) but its keys never reached the server
        await client.uploadInitialKeys();
      } else {
        // The login's own prekeys-low may have arrived before the listener existed: an empty upload asks again.
        await client.upload({ signedPreKey: null, kyberLastResort: null, oneTimePreKeys: [], oneTimeKyberPreKeys: [] });
      }
      return client;
    } catch (err) {
      local.close();
      throw err;
    }
  }

  get device(): DeviceCredentials {
    return this.transport.device;
  }

  /** This device's identity public key (serialized). */
  get identityKey(): Uint8Array {
    return this.pair.publicKey.serialize();
  }

  // ---------------------------------------------------------------------------
  // sending

  sendText(to: string, body: string, options: { messageId?: string; resend?: boolean } = {}): Promise<SendResult> {
    return this.send(to, { type: 'text', text: body }, options);
  }

  /**
   * Encrypts `content` for every device of `to` and sends it; resolves on `sent`.
   * `options.resend`: this `messageId` may have been sent before (see ParleyClient.send).
   */
  async send(to: string, content: Content, options: { messageId?: string; resend?: boolean } = {}): Promise<SendResult> {
    const plaintext = encodeContent(content);
    const messageId = options.messageId ?? newMessageId();
    for (let attempt = 1; ; attempt++) {
      const envelopes = await this.lock(() => this.encryptFor(to, plaintext));
      // After `mismatched-devices` the same messageId goes again. That answer may have come
      // to a retransmission whose earlier copy was stored (its `sent` lost): flag it, so
      // the server returns that original instead of storing the message a second time.
      const resend = options.resend === true || attempt > 1;
      try {
        return await this.transport.send(to, envelopes, { messageId, resend });
      } catch (err) {
        if (!(err instanceof MismatchedDevicesError) || attempt >= MAX_SEND_ATTEMPTS) throw err;
        await this.lock(() => this.repairDevices(to, err));
      }
    }
  }

  /** The per-device envelopes of `content` for `to` (what `send` sends; exposed for replay tests and custom transports). */
  encrypt(to: string, content: Content): Promise<DeviceEnvelope[]> {
    const plaintext = encodeContent(content);
    return this.lock(() => this.encryptFor(to, plaintext));
  }

  private async encryptFor(to: string, plaintext: Uint8Array<ArrayBuffer>): Promise<DeviceEnvelope[]> {
    let devices = await this.sessionDevices(to);
    if (devices.length === 0) {
      await this.startSessions(to, 0, this.local.identitiesOf(to).length > 0);
      devices = await this.sessionDevices(to);
    }
    if (devices.length === 0) throw new ParleyError('PARLEY_ERR_UNKNOWN_USER', `no device of ${to} has published keys`);
    const envelopes: DeviceEnvelope[] = [];
    for (const deviceId of devices) {
      const address = ProtocolAddress.new(to, deviceId);
      const message = await signalEncrypt(plaintext, address, this.localAddress, this.stores.session, this.stores.identity);
      const record = await this.stores.session.getSession(address);
      envelopes.push({
        deviceId, registrationId: record?.remoteRegistrationId() ?? 0,
        type: message.type() as CiphertextType, ciphertext: message.serialize(),
      });
    }
    return envelopes;
  }

  /** Devices of `to` with a usable session (never this device). */
  private async sessionDevices(to: string): Promise<number[]> {
    const me = this.device;
    const out: number[] = [];
    for (const d of this.local.sessionDevices(to)) {
      if (to === me.userId && d === me.deviceId) continue;
      const record = await this.stores.session.getSession(ProtocolAddress.new(to, d));
      if (record?.hasCurrentState()) out.push(d);
    }
    return out;
  }

  /** Fetches bundles (one device, or all with 0) and starts a PQXDH session with each. */
  private async startSessions(to: string, deviceId: number, userKnown: boolean): Promise<void> {
    const bundles = await fetchPreKeyBundles(this.transport, to, deviceId);
    for (const b of bundles) {
      if (to === this.device.userId && b.deviceId === this.device.deviceId) continue;
      const hadIdentity = this.local.identity(to, b.deviceId) !== undefined;
      await processPreKeyBundle(toLibsignalBundle(b), ProtocolAddress.new(to, b.deviceId), this.localAddress, this.stores.session, this.stores.identity);
      if (!hadIdentity && userKnown) {
        this.emit('identity-change', { userId: to, deviceId: b.deviceId, previous: null, current: new Uint8Array(b.identityKey), blocked: false } satisfies IdentityChangeEvent);
      }
    }
  }

  /** After `mismatched-devices`: forget removed devices, start sessions with new and re-installed ones. */
  private async repairDevices(to: string, err: MismatchedDevicesError): Promise<void> {
    const userKnown = this.local.identitiesOf(to).length > 0;
    for (const d of err.extra) {
      this.local.removeSession(to, d);
      this.local.removeIdentity(to, d);
    }
    for (const d of err.stale) this.local.removeSession(to, d);
    for (const d of [...err.missing, ...err.stale]) await this.startSessions(to, d, userKnown);
  }

  // ---------------------------------------------------------------------------
  // receiving

  /** Decrypted incoming messages, each once, in delivery order. */
  messages(): AsyncIterable<SecureMessage> {
    return this.incoming;
  }

  /** Delivered/read receipts of messages this user sent (server metadata: message ids only). */
  receipts(): AsyncIterable<Receipt> {
    return this.transport.receipts();
  }

  /** Tells the senders the user read these messages. */
  markRead(to: string, messageIds: string[]): Promise<void> {
    return this.transport.markRead(to, messageIds);
  }

  private async pump(): Promise<void> {
    try {
      for await (const m of this.transport.messages()) await this.receive(m);
    } finally {
      this.incoming.end();
    }
  }

  private async receive(m: IncomingMessage): Promise<void> {
    const meta = { from: m.from, fromDevice: m.fromDevice, messageId: m.messageId };
    let plaintext = this.local.pending(m.from, m.fromDevice, m.messageId);
    if (plaintext === undefined) {
      try {
        plaintext = await this.lock(() => this.decrypt(m));
      } catch (err) {
        const duplicate = err instanceof LibSignalErrorBase && err.code === ErrorCode.DuplicatedMessage;
        this.emit(duplicate ? 'duplicate' : 'decrypt-error', { ...meta, code: (err as { code?: unknown }).code, message: (err as Error).message });
        m.ack(); // it can never be decrypted (again): keeping it would block nothing but waste the inbox
        return;
      }
      this.local.putPending(m.from, m.fromDevice, m.messageId, plaintext);
    }
    let decoded;
    try {
      decoded = decodeContent(plaintext);
    } catch (err) {
      this.local.removePending(m.from, m.fromDevice, m.messageId);
      this.emit('decrypt-error', { ...meta, message: (err as Error).message });
      m.ack();
      return;
    }
    let acked = false;
    this.incoming.push({
      ...meta, serverTime: m.serverTime, sentAt: decoded.sentAt, content: decoded.content,
      ack: () => {
        if (acked) return;
        acked = true;
        if (!this.closed) this.local.removePending(m.from, m.fromDevice, m.messageId);
        m.ack();
      },
    });
  }

  private async decrypt(m: IncomingMessage): Promise<Uint8Array<ArrayBuffer>> {
    const address = ProtocolAddress.new(m.from, m.fromDevice);
    const ciphertext = new Uint8Array(m.ciphertext);
    switch (m.type) {
      case CiphertextType.PreKey: {
        const hadIdentity = this.local.identity(m.from, m.fromDevice) !== undefined;
        const userKnown = this.local.identitiesOf(m.from).length > 0;
        const s = this.stores;
        const plaintext = await signalDecryptPreKey(
          PreKeySignalMessage.deserialize(ciphertext), address, this.localAddress,
          s.session, s.identity, s.preKey, s.signedPreKey, s.kyberPreKey,
        );
        if (!hadIdentity && userKnown) {
          const current = this.local.identity(m.from, m.fromDevice)?.publicKey ?? new Uint8Array(0);
          this.emit('identity-change', { userId: m.from, deviceId: m.fromDevice, previous: null, current, blocked: false } satisfies IdentityChangeEvent);
        }
        return plaintext;
      }
      case CiphertextType.Whisper:
        return signalDecrypt(SignalMessage.deserialize(ciphertext), address, this.localAddress, this.stores.session, this.stores.identity);
      default:
        throw new ParleyError('PARLEY_ERR_INVALID_FIELD', `ciphertext type ${m.type} is not a 1:1 Signal message`);
    }
  }

  // ---------------------------------------------------------------------------
  // keys

  private async uploadInitialKeys(): Promise<void> {
    const batch = this.options.preKeyBatch ?? 100;
    await this.upload({
      signedPreKey: await generateSignedPreKey(this.local, this.stores, this.pair),
      kyberLastResort: generateLastResortKyberKey(this.local, this.stores, this.pair),
      oneTimePreKeys: await generateOneTimePreKeys(this.local, this.stores, batch),
      oneTimeKyberPreKeys: await generateOneTimeKyberPreKeys(this.local, this.stores, this.pair, batch),
    });
  }

  /** Tops the server's one-time supply back up to `preKeyBatch` (what `prekeys-low` triggers). */
  replenishPreKeys(low: { ecCount: number; kyberCount: number } = { ecCount: 0, kyberCount: 0 }): Promise<void> {
    this.replenishing ??= (async () => {
      try {
        const batch = this.options.preKeyBatch ?? 100;
        const ec = Math.max(0, batch - low.ecCount);
        const kyber = Math.max(0, batch - low.kyberCount);
        if (ec === 0 && kyber === 0) return; // already at our batch size (set below the server's threshold): nothing to add
        await this.upload({
          signedPreKey: null, kyberLastResort: null,
          oneTimePreKeys: await generateOneTimePreKeys(this.local, this.stores, ec),
          oneTimeKyberPreKeys: await generateOneTimeKyberPreKeys(this.local, this.stores, this.pair, kyber),
        });
        this.emit('prekeys-replenished', { ec, kyber });
      } finally {
        this.replenishing = undefined;
      }
    })();
    return this.replenishing;
  }

  /** Replaces the signed pre-key and the Kyber last-resort key; old private halves stay for the grace period. */
  async rotateSignedPreKeys(): Promise<{ signedPreKeyId: number; lastResortId: number }> {
    const signedPreKey = await generateSignedPreKey(this.local, this.stores, this.pair);
    const kyberLastResort = generateLastResortKyberKey(this.local, this.stores, this.pair);
    await this.upload({ signedPreKey, kyberLastResort, oneTimePreKeys: [], oneTimeKyberPreKeys: [] });
    const grace = this.options.signedKeyGraceMs ?? 30 * 24 * 60 * 60 * 1000;
    this.local.purgeOldSigned(Date.now() - grace, signedPreKey.id, kyberLastResort.id);
    const result = { signedPreKeyId: signedPreKey.id, lastResortId: kyberLastResort.id };
    this.emit('keys-rotated', result);
    return result;
  }

  /** Ids of the current signed and last-resort keys, and the local one-time stock (tests, diagnostics). */
  keyStatus(): { signedPreKeyId: number | undefined; lastResortId: number | undefined; signedKeys: number; oneTimePreKeys: number; kyberKeys: number } {
    return {
      signedPreKeyId: this.local.getNumber(META.currentSigned),
      lastResortId: this.local.getNumber(META.currentLastResort),
      signedKeys: this.local.count('signed_prekeys'),
      oneTimePreKeys: this.local.count('prekeys'),
      kyberKeys: this.local.count('kyber_prekeys'),
    };
  }

  private upload(keys: Omit<Parameters<typeof uploadPreKeys>[1], 'identityKey' | 'registrationId'>): Promise<void> {
    return uploadPreKeys(this.transport, { identityKey: this.pair.publicKey.serialize(), registrationId: this.registrationId, ...keys });
  }

  // ---------------------------------------------------------------------------
  // identities and safety numbers

  /** The safety number of this user and `userId` (over the contact's lowest known device). */
  safetyNumber(userId: string): SafetyNumber {
    const fp = this.fingerprint(userId);
    return { displayable: fp.fingerprint.displayableFingerprint().toString(), scannable: fp.fingerprint.scannableFingerprint().toBuffer(), deviceId: fp.deviceId };
  }

  /** Compares the contact's scanned QR payload with ours; on a match the contact's identity is marked verified. */
  verifySafetyNumber(userId: string, scanned: Uint8Array): boolean {
    let ok: boolean;
    try {
      ok = this.fingerprint(userId).fingerprint.scannableFingerprint().compare(ScannableFingerprint._fromBuffer(new Uint8Array(scanned)));
    } catch {
      ok = false; // malformed, other version, or other identities
    }
    if (ok) this.local.setVerified(userId, true);
    return ok;
  }

  /** Whether the contact's identity was verified (and not changed since). */
  isVerified(userId: string): boolean {
    const ids = this.local.identitiesOf(userId);
    return ids.length > 0 && ids.every((i) => i.verified && i.pendingKey === null);
  }

  /** Accepts the changed identity key of `userId`'s device(s): the next send starts a new session. */
  trustIdentity(userId: string, deviceId?: number): void {
    for (const id of this.local.identitiesOf(userId)) {
      if (deviceId !== undefined && id.deviceId !== deviceId) continue;
      if (id.pendingKey !== null) {
        this.local.putIdentity(userId, id.deviceId, id.pendingKey, Date.now());
        this.local.removeSession(userId, id.deviceId);
      }
    }
  }

  private fingerprint(userId: string): { fingerprint: Fingerprint; deviceId: number } {
    const remote = this.local.identitiesOf(userId)[0];
    if (remote === undefined) throw new ParleyError('PARLEY_ERR_UNKNOWN_USER', `no identity known for ${userId}: exchange a message first`);
    const fingerprint = Fingerprint.new(
      FINGERPRINT_ITERATIONS, FINGERPRINT_VERSION,
      text.encode(this.device.userId), this.pair.publicKey,
      text.encode(userId), PublicKey.deserialize(remote.publicKey),
    );
    return { fingerprint, deviceId: remote.deviceId };
  }

  // ---------------------------------------------------------------------------

  /** Closes the connection, waits for in-flight crypto, closes the local store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.transport.close();
    await this.pumped.catch(() => undefined);
    await this.chain.catch(() => undefined);
    await this.replenishing?.catch(() => undefined);
    this.local.close();
  }

  /** Runs `fn` after every earlier session operation: libsignal loads and saves whole records, so two must not interleave. */
  private lock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function transportOptions(o: SecureClientOptions) {
  return {
    url: o.url,
    ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
    ...(o.reconnect !== undefined ? { reconnect: o.reconnect } : {}),
    ...(o.clientInfo !== undefined ? { clientInfo: o.clientInfo } : {}),
  };
}

function toLibsignalBundle(b: WireBundle): PreKeyBundle {
  const u = (x: Uint8Array) => new Uint8Array(x);
  return PreKeyBundle.new(
    b.registrationId, b.deviceId,
    b.oneTimePreKey === null ? null : b.oneTimePreKey.id,
    b.oneTimePreKey === null ? null : PublicKey.deserialize(u(b.oneTimePreKey.publicKey)),
    b.signedPreKey.id, PublicKey.deserialize(u(b.signedPreKey.publicKey)), u(b.signedPreKey.signature),
    PublicKey.deserialize(u(b.identityKey)),
    b.kyberPreKey.id, KEMPublicKey.deserialize(u(b.kyberPreKey.publicKey)), u(b.kyberPreKey.signature),
  );
}

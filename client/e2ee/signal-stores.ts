/**
 * libsignal's store interfaces over the device's LocalStore. Addresses are
 * `ProtocolAddress(userId, deviceId)`.
 *
 * Identity trust (what `isTrustedIdentity` answers):
 * - first key seen for a device: trusted (trust on first use);
 * - same key: trusted;
 * - a different key: trusted, and `saveIdentity` replaces it and reports an
 *   identity change — unless the user's identity was verified (safety number
 *   compared): then it is untrusted, kept as "pending" and reported, until the
 *   app calls `trustIdentity`. libsignal then refuses to encrypt to or
 *   decrypt from that device (UntrustedIdentity).
 */
import {
  Direction, IdentityChange, IdentityKeyStore, KyberPreKeyRecord, KyberPreKeyStore, PreKeyRecord, PreKeyStore,
  PrivateKey, ProtocolAddress, PublicKey, SenderKeyRecord, SenderKeyStore, SessionRecord, SessionStore,
  SignedPreKeyRecord, SignedPreKeyStore, IdentityKeyPair, type Uuid,
} from '@signalapp/libsignal-client';
import type { LocalStore } from './local-store.ts';

/** An identity key of a peer device changed (or appeared for a known user). */
export interface IdentityChangeEvent {
  readonly userId: string;
  readonly deviceId: number;
  /** The key we had for this device; null when the device is new for a user we knew. */
  readonly previous: Uint8Array | null;
  readonly current: Uint8Array;
  /** true when messages to and from this device wait for `trustIdentity` (the old key was verified). */
  readonly blocked: boolean;
}

const sameKey = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

export class LocalSessionStore extends SessionStore {
  constructor(private readonly local: LocalStore) { super(); }

  async saveSession(address: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.local.putSession(address.name(), address.deviceId(), record.serialize());
  }

  async getSession(address: ProtocolAddress): Promise<SessionRecord | null> {
    const bytes = this.local.session(address.name(), address.deviceId());
    return bytes === undefined ? null : SessionRecord.deserialize(bytes);
  }

  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return addresses.map((a) => {
      const bytes = this.local.session(a.name(), a.deviceId());
      if (bytes === undefined) throw new Error(`no session for ${a.toString()}`);
      return SessionRecord.deserialize(bytes);
    });
  }
}

export class LocalIdentityStore extends IdentityKeyStore {
  constructor(
    private readonly local: LocalStore,
    private readonly pair: IdentityKeyPair,
    private readonly registrationId: number,
    private readonly onChange: (event: IdentityChangeEvent) => void,
  ) { super(); }

  async getIdentityKey(): Promise<PrivateKey> {
    return this.pair.privateKey;
  }

  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }

  async saveIdentity(address: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const userId = address.name();
    const deviceId = address.deviceId();
    const current = key.serialize();
    const existing = this.local.identity(userId, deviceId);
    if (existing !== undefined && sameKey(existing.publicKey, current)) return IdentityChange.NewOrUnchanged;
    if (existing !== undefined && existing.verified) {
      // isTrustedIdentity refused it already; never silently replace a verified key
      return IdentityChange.NewOrUnchanged;
    }
    this.local.putIdentity(userId, deviceId, current, Date.now());
    if (existing === undefined) return IdentityChange.NewOrUnchanged;
    this.onChange({ userId, deviceId, previous: existing.publicKey, current, blocked: false });
    return IdentityChange.ReplacedExisting;
  }

  async isTrustedIdentity(address: ProtocolAddress, key: PublicKey, _direction: Direction): Promise<boolean> {
    const existing = this.local.identity(address.name(), address.deviceId());
    const presented = key.serialize();
    if (existing === undefined || sameKey(existing.publicKey, presented)) return true;
    if (!existing.verified) return true;
    if (existing.pendingKey === null || !sameKey(existing.pendingKey, presented)) {
      this.local.setPendingIdentity(address.name(), address.deviceId(), presented);
      this.onChange({ userId: address.name(), deviceId: address.deviceId(), previous: existing.publicKey, current: presented, blocked: true });
    }
    return false;
  }

  async getIdentity(address: ProtocolAddress): Promise<PublicKey | null> {
    const existing = this.local.identity(address.name(), address.deviceId());
    return existing === undefined ? null : PublicKey.deserialize(existing.publicKey);
  }
}

export class LocalPreKeyStore extends PreKeyStore {
  constructor(private readonly local: LocalStore) { super(); }

  async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    this.local.putPreKey(id, record.serialize());
  }

  async getPreKey(id: number): Promise<PreKeyRecord> {
    const bytes = this.local.preKey('prekeys', id);
    if (bytes === undefined) throw new Error(`no pre-key ${id}`);
    return PreKeyRecord.deserialize(bytes);
  }

  async removePreKey(id: number): Promise<void> {
    this.local.removePreKey('prekeys', id);
  }
}

export class LocalSignedPreKeyStore extends SignedPreKeyStore {
  constructor(private readonly local: LocalStore) { super(); }

  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    this.local.putSignedPreKey(id, record.serialize(), record.timestamp());
  }

  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    const bytes = this.local.preKey('signed_prekeys', id);
    if (bytes === undefined) throw new Error(`no signed pre-key ${id}`);
    return SignedPreKeyRecord.deserialize(bytes);
  }
}

export class LocalKyberPreKeyStore extends KyberPreKeyStore {
  constructor(private readonly local: LocalStore) { super(); }

  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    this.local.putKyberPreKey(id, record.serialize(), false, record.timestamp());
  }

  /** Stores a last-resort key (kept after use, unlike one-time keys). */
  saveLastResort(id: number, record: KyberPreKeyRecord): void {
    this.local.putKyberPreKey(id, record.serialize(), true, record.timestamp());
  }

  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const bytes = this.local.preKey('kyber_prekeys', id);
    if (bytes === undefined) throw new Error(`no Kyber pre-key ${id}`);
    return KyberPreKeyRecord.deserialize(bytes);
  }

  /** One-time keys are deleted; a last-resort key is kept, and the same (key, signed key, base key) twice is a replay. */
  async markKyberPreKeyUsed(id: number, signedPreKeyId: number, baseKey: PublicKey): Promise<void> {
    if (!this.local.isLastResortKyber(id)) {
      this.local.removePreKey('kyber_prekeys', id);
      return;
    }
    if (!this.local.recordKyberUse(id, signedPreKeyId, baseKey.serialize())) {
      throw new Error(`last-resort Kyber pre-key ${id} reused with the same base key`);
    }
  }
}

export class LocalSenderKeyStore extends SenderKeyStore {
  constructor(private readonly local: LocalStore) { super(); }

  async saveSenderKey(sender: ProtocolAddress, distributionId: Uuid, record: SenderKeyRecord): Promise<void> {
    this.local.putSenderKey(sender.name(), sender.deviceId(), String(distributionId), record.serialize());
  }

  async getSenderKey(sender: ProtocolAddress, distributionId: Uuid): Promise<SenderKeyRecord | null> {
    const bytes = this.local.senderKey(sender.name(), sender.deviceId(), String(distributionId));
    return bytes === undefined ? null : SenderKeyRecord.deserialize(bytes);
  }
}

/** All stores of one device, as libsignal's functions take them. */
export interface SignalStores {
  readonly session: LocalSessionStore;
  readonly identity: LocalIdentityStore;
  readonly preKey: LocalPreKeyStore;
  readonly signedPreKey: LocalSignedPreKeyStore;
  readonly kyberPreKey: LocalKyberPreKeyStore;
  readonly senderKey: LocalSenderKeyStore;
}

export function signalStores(local: LocalStore, pair: IdentityKeyPair, registrationId: number, onChange: (e: IdentityChangeEvent) => void): SignalStores {
  return {
    session: new LocalSessionStore(local),
    identity: new LocalIdentityStore(local, pair, registrationId, onChange),
    preKey: new LocalPreKeyStore(local),
    signedPreKey: new LocalSignedPreKeyStore(local),
    kyberPreKey: new LocalKyberPreKeyStore(local),
    senderKey: new LocalSenderKeyStore(local),
  };
}

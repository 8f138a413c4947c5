/**
 * What the chat actors share on one node: the stores, the device directory,
 * the actor system (registry of sessions) and the settings. Built once by the
 * node (server/) and passed to every Connection and Session in `init`.
 */
import type { ProtocolLimits } from '../protocol/index.ts';
import type { ActorSystem, PartitionedSupervisor, Ref } from '../supervisors/index.ts';
import type { AccountStore, DeviceAddress, InboxStore, PresenceStore } from '../store/types.ts';
import type { DeviceDirectory } from './device-directory.ts';
import type { KeysService } from './keys-service.ts';

/** Structured logger (pino's shape); ids only, never message bodies. */
export interface ChatLog {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

/** Tunables of connections and sessions. */
export interface ChatSettings {
  /** Server ping period. @default 15000 */
  readonly pingIntervalMs: number;
  /** A socket silent this long is closed (4440). @default 45000 */
  readonly idleTimeoutMs: number;
  /** Time from connect to a successful login before 4408. @default 10000 */
  readonly authTimeoutMs: number;
  /** Deliveries pushed to a device and not yet acked, at most. @default 256 */
  readonly deliveryWindow: number;
  /** Inbox entries read per store round trip. @default 128 */
  readonly readBatch: number;
  /**
   * "delivered" receipts are coalesced per original sender for this long, so a
   * device draining a backlog produces one receipt per sender per interval,
   * not one per ack batch. @default 20
   */
  readonly receiptFlushMs: number;
  /**
   * Several writers (a cluster): how long a first transmission to devices
   * that all have a session in the cluster is handed over to them before it is
   * stored instead (acked by them first: never stored; session-forward.ts).
   * 0 = every send is stored before `sent`. Unused on one node. @default 0
   */
  readonly forwardMs: number;
  /** Outbound bytes buffered for one socket before it is closed as a slow consumer (4450). @default 4194304 */
  readonly maxBufferedBytes: number;
}

/** Defaults of ChatSettings (the 15 s heartbeat and 45 s silence). */
export const DEFAULT_CHAT_SETTINGS: ChatSettings = {
  pingIntervalMs: 15_000,
  idleTimeoutMs: 45_000,
  authTimeoutMs: 10_000,
  deliveryWindow: 256,
  readBatch: 128,
  receiptFlushMs: 20,
  forwardMs: 0,
  maxBufferedBytes: 4 * 1024 * 1024,
};

/** Everything a chat actor needs from its node. */
export interface ChatServices {
  readonly accounts: AccountStore;
  readonly inbox: InboxStore;
  /** Who is online: touched on login and on every heartbeat of a live connection. */
  readonly presence?: PresenceStore;
  readonly directory: DeviceDirectory;
  /** Pre-key service (upload, fetch, low-supply notices); absent: pre-key frames are not served. */
  readonly keys?: KeysService;
  readonly system: ActorSystem;
  /** The partitioned supervisor sessions run under (keyed by session name). */
  readonly sessionSupervisor: PartitionedSupervisor;
  /** Sessions running on this node (they add and remove themselves): the node tells them to resync. */
  readonly localSessions: Set<Ref>;
  /**
   * Writes that terminating sessions still had queued (their last receipts and
   * inbox deletes, last seen): a stopping node waits for them (bounded) before
   * it closes the stores. Each removes itself when done; none rejects.
   */
  readonly finalWrites: Set<Promise<unknown>>;
  /**
   * Present on a clustered node: claims a session name cluster-wide, taking
   * it over from a session on another node (which closes its connection 4409).
   */
  readonly cluster?: { claimSession(name: string, ref: Ref): Promise<void> };
  readonly limits: ProtocolLimits;
  readonly settings: ChatSettings;
  readonly log: ChatLog;
  /** Wall clock (ms since epoch) for server timestamps. */
  now(): number;
}

/**
 * Session names already built, by user then device: every copy of every
 * message looks its recipient's session up by name, and a fresh string would
 * be concatenated, flattened and hashed each time. Forgotten wholesale past
 * `SESSION_NAMES_MAX` users.
 */
const sessionNames = new Map<string, Map<number, string>>();
const SESSION_NAMES_MAX = 100_000;

/** Registered name of a device's session: one per device on the node. */
export function sessionName(device: DeviceAddress): string {
  const { userId, deviceId } = device;
  let names = sessionNames.get(userId);
  let name = names?.get(deviceId);
  if (name !== undefined) return name;
  if (names === undefined) {
    if (sessionNames.size >= SESSION_NAMES_MAX) sessionNames.clear();
    sessionNames.set(userId, (names = new Map()));
  }
  name = `session/${userId}/${deviceId}`;
  names.set(deviceId, name);
  return name;
}

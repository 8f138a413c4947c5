/**
 * Which devices get a copy of a `send`, decided before anything is stored.
 *
 * - One opaque envelope for device 0 (before end-to-end encryption): a copy
 *   for every device of the recipient user and for the sender's own other
 *   devices (multi-device: your other phones see what you sent).
 * - Per-device envelopes (end-to-end encrypted): exactly one per current
 *   device of the recipient user (minus the sending device when writing to
 *   oneself), else the send is refused with the missing, extra and stale
 *   (registration id changed: re-installed) devices, as Signal-Server's
 *   409/410 do. The sender's other devices are the client's to address, with
 *   their own ciphertexts, in a send to itself.
 *
 * Pure: the device lists come from the caller.
 */
import { CiphertextType, type DeviceEnvelope } from '../protocol/index.ts';
import type { DeviceAddress, DeviceId, UserId } from '../store/types.ts';

/** A device as fan-out needs it. */
export interface FanoutDevice {
  readonly deviceId: DeviceId;
  readonly registrationId: number;
  /** The device's address, shared by the copies to it (DeviceDirectory); built per copy when absent. */
  readonly address?: DeviceAddress;
}

/** One planned copy. */
export interface PlannedCopy {
  readonly recipient: DeviceAddress;
  readonly type: CiphertextType;
  readonly ciphertext: Uint8Array;
}

/** The plan: copies to store, or why the device list does not match. */
export type FanoutPlan =
  | { readonly ok: true; readonly copies: readonly PlannedCopy[] }
  | { readonly ok: false; readonly missing: DeviceId[]; readonly extra: DeviceId[]; readonly stale: DeviceId[] };

/**
 * Plans the copies of one send from `sender` to user `to`.
 * @param recipientDevices current devices of `to`
 * @param senderDevices current devices of the sender's user (for opaque sends)
 */
export function planFanout(
  sender: DeviceAddress,
  to: UserId,
  envelopes: readonly DeviceEnvelope[],
  recipientDevices: readonly FanoutDevice[],
  senderDevices: readonly FanoutDevice[],
): FanoutPlan {
  const toSelf = to === sender.userId;
  const targets = toSelf ? recipientDevices.filter((d) => d.deviceId !== sender.deviceId) : recipientDevices;
  const first = envelopes[0];
  if (envelopes.length === 1 && first !== undefined && first.deviceId === 0) {
    const copies: PlannedCopy[] = targets.map((d) => ({ recipient: d.address ?? { userId: to, deviceId: d.deviceId }, type: first.type, ciphertext: first.ciphertext }));
    if (!toSelf) {
      for (const d of senderDevices) {
        if (d.deviceId !== sender.deviceId) copies.push({ recipient: d.address ?? { userId: sender.userId, deviceId: d.deviceId }, type: first.type, ciphertext: first.ciphertext });
      }
    }
    return { ok: true, copies };
  }
  const missing: DeviceId[] = [];
  const extra: DeviceId[] = [];
  const stale: DeviceId[] = [];
  for (const d of targets) {
    const env = envelopes.find((e) => e.deviceId === d.deviceId);
    if (env === undefined) missing.push(d.deviceId);
    else if (env.registrationId !== 0 && env.registrationId !== d.registrationId) stale.push(d.deviceId);
  }
  for (const e of envelopes) {
    if (!targets.some((d) => d.deviceId === e.deviceId)) extra.push(e.deviceId);
  }
  if (missing.length > 0 || extra.length > 0 || stale.length > 0) return { ok: false, missing, extra, stale };
  return {
    ok: true,
    copies: envelopes.map((e) => ({
      recipient: targets.find((d) => d.deviceId === e.deviceId)?.address ?? { userId: to, deviceId: e.deviceId }, type: e.type, ciphertext: e.ciphertext,
    })),
  };
}

/** Whether the ciphertext type may be relayed (Plaintext is never accepted from a client for chat content). */
export function relayable(type: CiphertextType): boolean {
  return type !== CiphertextType.Plaintext;
}

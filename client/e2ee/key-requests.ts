/**
 * Pre-key requests over a ParleyClient connection.
 *
 * Built on `ParleyClient.request` (rid matching, error mapping). Not resent
 * after a reconnect: the caller decides (uploads are repeated on the next
 * `prekeys-low`, fetches by the next send).
 */
import {
  FrameKind, ParleyError,
  type PreKey, type PreKeyBundle, type SignedPreKey,
} from '../../protocol/index.ts';
import type { ParleyClient } from '../parley-client.ts';

/** What a device uploads. Null signed keys leave the server's current ones. */
export interface PreKeyUpload {
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly signedPreKey: SignedPreKey | null;
  readonly kyberLastResort: SignedPreKey | null;
  readonly oneTimePreKeys: PreKey[];
  readonly oneTimeKyberPreKeys: SignedPreKey[];
}

/** Uploads keys; resolves on `ok`, rejects with the server's ParleyError (e.g. PARLEY_ERR_INVALID_KEY). */
export async function uploadPreKeys(client: ParleyClient, upload: PreKeyUpload): Promise<void> {
  const answer = await client.request({ kind: FrameKind.PreKeyUpload, rid: 0, ...upload }, false);
  if (answer.kind !== FrameKind.Ok) throw new ParleyError('PARLEY_ERR_INTERNAL', `unexpected answer ${answer.kind} to prekey-upload`);
}

/** Fetches bundles of one device of `userId`, or of all its devices (deviceId 0). Each consumes one-time keys. */
export async function fetchPreKeyBundles(client: ParleyClient, userId: string, deviceId: number): Promise<PreKeyBundle[]> {
  const answer = await client.request({ kind: FrameKind.PreKeyFetch, rid: 0, userId, deviceId }, false);
  if (answer.kind !== FrameKind.PreKeyBundles) throw new ParleyError('PARLEY_ERR_INTERNAL', `unexpected answer ${answer.kind} to prekey-fetch`);
  return answer.bundles;
}

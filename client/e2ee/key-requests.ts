/**
 * Pre-key requests over a ParleyClient connection.
 *
 * ParleyClient has no public method for `prekey-upload` / `prekey-fetch` yet
 * (it predates E2EE), so this reaches its request/response plumbing (rid
 * matching, error mapping) through a typed view of it. Not resent after a
 * reconnect: the caller decides (uploads are repeated on the next
 * `prekeys-low`, fetches by the next send).
 * TODO(lead): expose `request(frame, resend)` (or uploadPreKeys/fetchPreKeys)
 * on ParleyClient and drop this cast.
 */
import {
  FrameKind, ParleyError,
  type ClientFrame, type PreKey, type PreKeyBundle, type ServerFrame, type SignedPreKey,
} from '../../protocol/index.ts';
import type { ParleyClient } from '../parley-client.ts';

interface RequestPlumbing {
  request(frame: ClientFrame, resend: boolean): Promise<ServerFrame>;
}

function plumbing(client: ParleyClient): RequestPlumbing {
  return client as unknown as RequestPlumbing;
}

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
  const answer = await plumbing(client).request({ kind: FrameKind.PreKeyUpload, rid: 0, ...upload }, false);
  if (answer.kind !== FrameKind.Ok) throw new ParleyError('PARLEY_ERR_INTERNAL', `unexpected answer ${answer.kind} to prekey-upload`);
}

/** Fetches bundles of one device of `userId`, or of all its devices (deviceId 0). Each consumes one-time keys. */
export async function fetchPreKeyBundles(client: ParleyClient, userId: string, deviceId: number): Promise<PreKeyBundle[]> {
  const answer = await plumbing(client).request({ kind: FrameKind.PreKeyFetch, rid: 0, userId, deviceId }, false);
  if (answer.kind !== FrameKind.PreKeyBundles) throw new ParleyError('PARLEY_ERR_INTERNAL', `unexpected answer ${answer.kind} to prekey-fetch`);
  return answer.bundles;
}

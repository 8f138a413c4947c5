/**
 * Pre-key fetch rate: `devices` devices each upload a signed EC key, a Kyber
 * last-resort key and `perDevice` one-time EC + `perDevice` one-time Kyber
 * keys (random bytes of Signal's sizes: 33-byte EC, 1,569-byte Kyber, 64-byte
 * signatures; stores check shapes only). Then `clients` concurrent loops call
 * `takeBundleKeys` for random devices, as senders starting sessions do, until
 * every device is down to its low-water mark.
 */
import { randomBytes } from 'node:crypto';
import { LatencyRecorder, type LatencySummary } from '../lib/latency.ts';
import type { PreKeyStore, PreKeyUploadSet, StoredSignedPreKey } from '../../store/prekeys.ts';
import type { DeviceAddress } from '../../store/types.ts';
import { devices } from './inbox-workload.ts';

export const EC_KEY_BYTES = 33;
export const KYBER_KEY_BYTES = 1569;
export const SIGNATURE_BYTES = 64;

export interface PreKeyLoadOptions {
  readonly devices: number;
  readonly perDevice: number;
  readonly clients: number;
  /** A device leaves the draw once its one-time EC supply is at or below this. */
  readonly lowWater: number;
}

export interface PreKeyLoadResult {
  readonly uploadSeconds: number;
  readonly takes: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly latency: LatencySummary;
  /** Takes that found no one-time EC key (must be 0: the draw stops at the low-water mark). */
  readonly withoutOneTime: number;
  readonly remainingEc: number;
}

const signed = (id: number, bytes: number): StoredSignedPreKey => ({ id, publicKey: randomBytes(bytes), signature: randomBytes(SIGNATURE_BYTES) });

function uploadSet(n: number): PreKeyUploadSet {
  return {
    signedPreKey: signed(1, EC_KEY_BYTES),
    kyberLastResort: signed(2, KYBER_KEY_BYTES),
    oneTimePreKeys: Array.from({ length: n }, (_, i) => ({ id: 100 + i, publicKey: randomBytes(EC_KEY_BYTES) })),
    oneTimeKyberPreKeys: Array.from({ length: n }, (_, i) => signed(100_000 + i, KYBER_KEY_BYTES)),
  };
}

export async function preKeyLoad(store: PreKeyStore, o: PreKeyLoadOptions): Promise<PreKeyLoadResult> {
  const list = devices(o.devices);
  const u0 = performance.now();
  for (let i = 0; i < list.length; i += o.clients) {
    await Promise.all(list.slice(i, i + o.clients).map((d) => store.upload(d, uploadSet(o.perDevice), Date.now())));
  }
  const uploadSeconds = (performance.now() - u0) / 1000;

  const live: DeviceAddress[] = [...list];
  const latency = new LatencyRecorder();
  let takes = 0;
  let withoutOneTime = 0;
  const t0 = performance.now();
  const client = async () => {
    while (live.length > 0) {
      const i = Math.floor(Math.random() * live.length);
      const d = live[i]!;
      const a = performance.now();
      const taken = await store.takeBundleKeys(d);
      latency.recordMs(performance.now() - a);
      if (taken === undefined) throw new Error(`no bundle for an uploaded device ${d.userId}`);
      takes++;
      if (taken.oneTimePreKey === null) withoutOneTime++;
      if (taken.remaining.ec <= o.lowWater) {
        const at = live.indexOf(d);
        if (at >= 0) live.splice(at, 1);
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, client));
  const seconds = (performance.now() - t0) / 1000;
  let remainingEc = 0;
  for (const d of list) remainingEc += (await store.counts(d)).ec;
  return { uploadSeconds, takes, seconds, perSecond: takes / seconds, latency: latency.summary(), withoutOneTime, remainingEc };
}

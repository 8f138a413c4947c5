/**
 * Layout of the shared store. Names and groups are arbitrary strings, so they
 * are base64url-encoded into key tokens (the store allows `[-/_=.a-zA-Z0-9]`).
 *
 * | key                               | value (msgpack)            | owner                          |
 * | --------------------------------- | -------------------------- | ------------------------------ |
 * | `n.<name>`                        | `{node, inc, id}`          | the node of the named process  |
 * | `g.<group>.<node>.<id>`           | `{node, inc, id}`          | the member's node              |
 * | `p.<namespace>.<key>`             | `{node, inc, id}` (id 0 while starting) | the lease holder  |
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false });

/** Who holds a key: a process (`id`) of a node incarnation. */
export interface Holder {
  readonly node: string;
  readonly inc: string;
  readonly id: number;
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
export const unb64 = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');

export const nameKey = (name: string): string => `n.${b64(name)}`;
export const groupKey = (group: string, node: string, id: number): string => `g.${b64(group)}.${node}.${id}`;
export const leaseKey = (ns: string, key: string): string => `p.${b64(ns)}.${b64(key)}`;

export function packHolder(h: Holder): Uint8Array {
  return packr.pack({ node: h.node, inc: h.inc, id: h.id });
}

export function unpackHolder(v: Uint8Array): Holder {
  return packr.unpack(v) as Holder;
}

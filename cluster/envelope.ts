/**
 * What travels between nodes: numeric kinds and a discriminated union, packed
 * with msgpackr (plain maps, no shared structures, so any node version can read
 * them). Refs travel as `[node, id]` pairs of the local side where the kind
 * makes the node obvious.
 */
import { Packr } from 'msgpackr';
import type { ExitReason, ExitSignal, Ref } from '../supervisors/index.ts';

/** Version of the envelope format; a heartbeat carries it. */
export const ENVELOPE_VERSION = 1;

/** Envelope kinds. */
export enum Kind {
  Heartbeat = 1,
  Leave,
  Send,
  Call,
  Reply,
  Link,
  Unlink,
  Exit,
  Monitor,
  Demonitor,
  Down,
  Rpc,
  /** Several sends to one node in one message (`sendSoon`), in order. */
  Batch,
}

/** A node's identity on the wire: its name and the incarnation (start time id). */
export interface NodeId {
  readonly node: string;
  readonly inc: string;
}

export type Envelope =
  | { k: Kind.Heartbeat; node: string; inc: string; v: number }
  | { k: Kind.Leave; node: string; inc: string }
  | { k: Kind.Send; to: number; cast: boolean; m: unknown }
  | { k: Kind.Call; to: number; cid: number; from: string; req: unknown; tmo: number }
  | { k: Kind.Reply; cid: number; ok: boolean; v: unknown }
  | { k: Kind.Link; from: Ref; to: number }
  | { k: Kind.Unlink; from: Ref; to: number }
  /** `link`: the exit travels a link (the receiver drops its side of the link). */
  | { k: Kind.Exit; from: Ref; to: number; sig: ExitSignal; link: boolean }
  | { k: Kind.Monitor; watcher: Ref; mon: number; to: number }
  | { k: Kind.Demonitor; watcher: Ref; mon: number }
  | { k: Kind.Down; watcher: number; mon: number; target: Ref; reason: ExitReason }
  | { k: Kind.Rpc; cid: number; from: string; svc: string; arg: unknown }
  | { k: Kind.Batch; es: Envelope[] };

const packr = new Packr({ useRecords: false, moreTypes: true });

/** Envelope → bytes. */
export function encode(e: Envelope): Uint8Array {
  return packr.pack(e);
}

/** Bytes → envelope (the caller checks `k`). */
export function decode(data: Uint8Array): Envelope {
  return packr.unpack(data) as Envelope;
}

/** Subjects of one cluster. Node names are subject-safe (checked by `checkNodeName`). */
export function subjects(cluster: string): { node: (name: string) => string; heartbeat: string } {
  return { node: (name) => `${cluster}.node.${name}`, heartbeat: `${cluster}.heartbeat` };
}

/** Node names become NATS subject tokens and KV key parts. */
export const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

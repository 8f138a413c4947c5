/**
 * The one place that reaches into nact. nact gives Parley its actor cell (name,
 * path, parent/children maps, a `denque` mailbox) and its hierarchy
 * (`childSpawned`/`childStopped`, cascade stop). Its public API hides the cell
 * class, and its stock scheduling (one `setImmediate` per message, a copy of the
 * children map in every message context) is what this layer replaces, so we
 * subclass `Actor` from `nact/lib/actor.js` and type the parts we use here.
 * nact 7.6 has no `exports` map, so the deep require is supported by Node.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The `denque` mailbox nact gives every cell. */
export interface NactMailbox {
  push(item: unknown): number;
  shift(): unknown;
  size(): number;
  isEmpty(): boolean;
  clear(): void;
  toArray(): unknown[];
}

/** nact's actor path: `system://a/b/c`. */
export interface NactPath {
  readonly parts: readonly string[];
  toString(): string;
}

/** What nact needs from a parent: an `Actor` or the `ActorSystem` itself. */
export interface NactParent {
  readonly path: NactPath;
  readonly reference: unknown;
  readonly system: NactSystemCell;
  children: Map<string, unknown>;
  childReferences: Map<string, unknown>;
  childSpawned(child: unknown): void;
  childStopped(child: unknown): void;
  stopped: boolean;
}

/** nact's concrete `ActorSystem`. */
export interface NactSystemCell extends NactParent {
  readonly name: string;
  stop(): void;
}

/** The fields of nact's `Actor` the runtime touches. */
export interface NactActorFields extends NactParent {
  parent: NactParent | undefined;
  readonly name: string;
  mailbox: NactMailbox;
  state: unknown;
}

/** nact's `Actor` constructor. */
export type NactActorConstructor = new (
  parent: NactParent,
  name: string,
  system: NactSystemCell,
  f: (state: unknown) => unknown,
  properties: { afterStop: () => void; onCrash: () => symbol },
) => NactActorFields;

interface NactModule {
  start(name: string): { system: { name: string } };
}
interface SystemMapModule {
  find(systemName: string): NactSystemCell | undefined;
}

const nact = require('nact') as NactModule;
const systemMap = require('nact/lib/system-map.js') as SystemMapModule;

/** nact's `Actor` class, the base of every Parley process cell. */
export const NactActor = (require('nact/lib/actor.js') as { Actor: NactActorConstructor }).Actor;

/** Starts a nact actor system and returns its concrete root cell. */
export function startNactSystem(name: string): NactSystemCell {
  const ref = nact.start(name);
  const cell = systemMap.find(ref.system.name);
  if (cell === undefined) throw new Error(`nact system ${name} did not start`);
  return cell;
}

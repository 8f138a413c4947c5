/**
 * Named processes and process groups. `Registry` is the contract; `LocalRegistry`
 * is this node's implementation. The cluster layer will put a replicated
 * implementation behind the same interface (OTP's `global` and `pg` also answer
 * lookups from a local replica, which is why the interface is synchronous).
 * Only refs are stored, never process objects. Entries of a process disappear
 * when it exits (`processExited`, called by the runtime).
 */
import type { Ref } from './types.ts';

/** Names and groups of processes. */
export interface Registry {
  /** Registers `name` for `ref`; false if the name is taken, `ref` already has a name, or `ref` is dead. */
  register(name: string, ref: Ref): boolean;
  /** Removes `name` (no-op if absent). */
  unregister(name: string): void;
  /** The process registered under `name`. */
  whereis(name: string): Ref | undefined;
  /** All registered names. */
  registered(): string[];
  /** Adds `ref` to `group` (idempotent); no-op if `ref` is dead. */
  join(group: string, ref: Ref): void;
  /** Removes `ref` from `group`. */
  leave(group: string, ref: Ref): void;
  /** The members of `group`, in join order. */
  members(group: string): Ref[];
  /** Groups with at least one member. */
  whichGroups(): string[];
  /** Drops every entry of `ref`; the runtime calls it when a process exits. */
  processExited(ref: Ref): void;
}

/** The in-process registry of one node. */
export class LocalRegistry implements Registry {
  private readonly names = new Map<string, Ref>();
  private readonly nameOf = new Map<number, string>();
  private readonly groups = new Map<string, Map<number, Ref>>();
  private readonly groupsOf = new Map<number, Set<string>>();

  /** `isAlive` tells whether a ref names a running local process. */
  constructor(private readonly isAlive: (ref: Ref) => boolean) {}

  register(name: string, ref: Ref): boolean {
    if (this.names.has(name) || this.nameOf.has(ref.id) || !this.isAlive(ref)) return false;
    this.names.set(name, ref);
    this.nameOf.set(ref.id, name);
    return true;
  }

  unregister(name: string): void {
    const ref = this.names.get(name);
    if (ref === undefined) return;
    this.names.delete(name);
    this.nameOf.delete(ref.id);
  }

  whereis(name: string): Ref | undefined {
    return this.names.get(name);
  }

  registered(): string[] {
    return [...this.names.keys()];
  }

  join(group: string, ref: Ref): void {
    if (!this.isAlive(ref)) return;
    let members = this.groups.get(group);
    if (members === undefined) this.groups.set(group, (members = new Map()));
    members.set(ref.id, ref);
    let of = this.groupsOf.get(ref.id);
    if (of === undefined) this.groupsOf.set(ref.id, (of = new Set()));
    of.add(group);
  }

  leave(group: string, ref: Ref): void {
    const members = this.groups.get(group);
    if (members === undefined) return;
    members.delete(ref.id);
    if (members.size === 0) this.groups.delete(group);
    const of = this.groupsOf.get(ref.id);
    if (of !== undefined) {
      of.delete(group);
      if (of.size === 0) this.groupsOf.delete(ref.id);
    }
  }

  members(group: string): Ref[] {
    const members = this.groups.get(group);
    return members === undefined ? [] : [...members.values()];
  }

  whichGroups(): string[] {
    return [...this.groups.keys()];
  }

  processExited(ref: Ref): void {
    const name = this.nameOf.get(ref.id);
    if (name !== undefined) this.unregister(name);
    const of = this.groupsOf.get(ref.id);
    if (of !== undefined) for (const g of [...of]) this.leave(g, ref);
  }
}

/**
 * The cluster-wide `Registry`: names (OTP `global`) and process groups (OTP
 * `pg`) over the shared store. Reads are synchronous, from this node's replica,
 * which the store's watch keeps current. Writes go to the store, revision-checked:
 *
 * - `register(name, ref)` (the synchronous `Registry` method, used by
 *   `startLink(..., {name})`) answers from the replica and claims the name in
 *   the store right away. If another node won a race for it, the store's
 *   first writer keeps it and our process gets the exit signal
 *   `{shutdown: {nameLost, to}}` (clean, trappable): the deterministic resolution.
 * - `claim(name, ref, {takeover})` is the authoritative async form: `taken`
 *   (with the holder) or `ok`; with `takeover: true` it replaces the holder
 *   (revision-checked), whose process gets `{shutdown: {nameLost, to}}`.
 * - Names and members of a process vanish when it exits; those of a node vanish
 *   from lookups as soon as membership declares it down, and from the store when
 *   the lowest live node deletes them (revision-checked, so a newer owner is
 *   never deleted).
 */
import { deliverExit, type Ref, type Registry } from '../supervisors/index.ts';
import { groupKey, nameKey, packHolder, unb64, unpackHolder, type Holder } from './keys.ts';
import type { Membership } from './membership.ts';
import type { SharedStore, StoreEntry } from './shared-store.ts';

/** What `claim` reports. */
export type ClaimResult = { readonly ok: true; readonly previous: Ref | undefined } | { readonly ok: false; readonly holder: Ref };

/** Options of `claim`. */
export interface ClaimOptions {
  /** Replace another holder instead of failing. @default false */
  takeover: boolean;
}

interface NameEntry {
  readonly holder: Holder;
  readonly revision: number;
}

/** A local process's claim on a name (revision 0 while the write is in flight). */
interface LocalClaim {
  readonly name: string;
  readonly ref: Ref;
  revision: number;
  released: boolean;
}

interface GroupMember {
  readonly ref: Ref;
  readonly inc: string;
  revision: number;
}

/** The exit reason a process gets when it loses its name. */
export interface NameLost {
  readonly shutdown: { readonly nameLost: string; readonly to: Ref | undefined };
}

/** Registry replicated through a `SharedStore`. Built by `startClusterNode`. */
export class ClusterRegistry implements Registry {
  private readonly names = new Map<string, NameEntry>();
  private readonly claims = new Map<string, LocalClaim>();
  private readonly claimOf = new Map<number, string>();
  private readonly groups = new Map<string, Map<string, GroupMember>>();
  private readonly groupsOf = new Map<number, Set<string>>();
  private store: SharedStore | undefined;
  private membership: Membership | undefined;
  private inc = '';
  private readonly pending = new Set<Promise<unknown>>();
  /** Store failures (never silent: counted, and passed to `onError`). */
  errors = 0;
  onError: (err: unknown) => void = () => {};

  constructor(
    readonly node: string,
    private readonly isAlive: (ref: Ref) => boolean,
  ) {}

  /** @internal Connects the replica to the store and membership. */
  attach(store: SharedStore, membership: Membership, inc: string): void {
    this.store = store;
    this.membership = membership;
    this.inc = inc;
  }

  /** @internal A store change (from the node's watch). */
  applyEntry(e: StoreEntry): void {
    if (e.key.startsWith('n.')) this.applyName(unb64(e.key.slice(2)), e);
    else if (e.key.startsWith('g.')) this.applyMember(e);
  }

  // ---- names -----------------------------------------------------------------

  register(name: string, ref: Ref): boolean {
    if (this.whereis(name) !== undefined || this.claims.has(name) || this.claimOf.has(ref.id) || ref.node !== this.node || !this.isAlive(ref)) return false;
    const claim = this.addClaim(name, ref);
    this.write(async () => {
      const rev = await this.store!.create(nameKey(name), this.holderBytes(ref));
      if (rev !== undefined) return this.claimWritten(claim, rev);
      const cur = this.names.get(name) ?? (await this.entryOf(name));
      this.lose(claim, cur === undefined ? undefined : toRef(cur.holder));
    });
    return true;
  }

  /**
   * Claims `name` for the local process `ref`, authoritatively (awaits the
   * store). Fails with the holder, or takes the name over with `{takeover: true}`.
   */
  async claim(name: string, ref: Ref, options: Partial<ClaimOptions> = {}): Promise<ClaimResult> {
    const store = this.store!;
    if (ref.node !== this.node || !this.isAlive(ref)) throw new Error(`claim: ${ref.node}/${ref.id} is not a live local process`);
    const mine = this.claims.get(name);
    if (mine !== undefined && mine.ref.id === ref.id) return { ok: true, previous: undefined };
    for (let attempt = 0; attempt < 8; attempt++) {
      const cur = await this.entryOf(name);
      const live = cur !== undefined && !this.membership!.isGone(cur.holder.node, cur.holder.inc) ? cur : undefined;
      if (live !== undefined && !(options.takeover ?? false)) return { ok: false, holder: toRef(live.holder) };
      const rev = cur === undefined ? await store.create(nameKey(name), this.holderBytes(ref)) : await store.update(nameKey(name), this.holderBytes(ref), cur.revision);
      if (rev === undefined) continue; // raced: read again
      const old = this.claims.get(name);
      if (old !== undefined) this.lose(old, ref);
      const oldName = this.claimOf.get(ref.id);
      if (oldName !== undefined) this.unregister(oldName);
      this.claimWritten(this.addClaim(name, ref), rev);
      return { ok: true, previous: live === undefined ? undefined : toRef(live.holder) };
    }
    throw new Error(`claim: ${name} kept changing`);
  }

  unregister(name: string): void {
    const claim = this.claims.get(name);
    if (claim !== undefined) {
      this.dropClaim(claim);
      if (claim.revision !== 0) this.deleteName(name, claim.revision);
      return;
    }
    const e = this.names.get(name);
    if (e !== undefined) {
      this.names.delete(name);
      this.deleteName(name, e.revision);
    }
  }

  whereis(name: string): Ref | undefined {
    const e = this.names.get(name);
    if (e !== undefined && !this.membership!.isGone(e.holder.node, e.holder.inc)) {
      if (e.holder.node !== this.node) return this.membership!.isUp(e.holder.node) ? toRef(e.holder) : undefined;
      return toRef(e.holder);
    }
    return this.claims.get(name)?.ref;
  }

  registered(): string[] {
    const out = new Set<string>();
    for (const n of this.names.keys()) if (this.whereis(n) !== undefined) out.add(n);
    for (const n of this.claims.keys()) out.add(n);
    return [...out];
  }

  // ---- groups ----------------------------------------------------------------

  join(group: string, ref: Ref): void {
    if (ref.node !== this.node || !this.isAlive(ref)) return;
    const key = groupKey(group, ref.node, ref.id);
    let members = this.groups.get(group);
    if (members === undefined) this.groups.set(group, (members = new Map()));
    if (members.has(key)) return;
    const m: GroupMember = { ref, inc: this.inc, revision: 0 };
    members.set(key, m);
    let of = this.groupsOf.get(ref.id);
    if (of === undefined) this.groupsOf.set(ref.id, (of = new Set()));
    of.add(group);
    this.write(async () => {
      const rev = await this.store!.create(key, this.holderBytes(ref));
      if (rev === undefined) return;
      if (this.groups.get(group)?.get(key) === m) m.revision = rev;
      else await this.store!.delete(key, rev); // left meanwhile
    });
  }

  leave(group: string, ref: Ref): void {
    const key = groupKey(group, ref.node, ref.id);
    const members = this.groups.get(group);
    const m = members?.get(key);
    if (members === undefined || m === undefined) return;
    members.delete(key);
    if (members.size === 0) this.groups.delete(group);
    const of = this.groupsOf.get(ref.id);
    of?.delete(group);
    if (of?.size === 0) this.groupsOf.delete(ref.id);
    if (m.revision !== 0) this.write(() => this.store!.delete(key, m.revision));
  }

  members(group: string): Ref[] {
    const members = this.groups.get(group);
    if (members === undefined) return [];
    const out: Ref[] = [];
    for (const m of members.values()) if (!this.membership!.isGone(m.ref.node, m.inc) && this.membership!.isUp(m.ref.node)) out.push(m.ref);
    return out;
  }

  whichGroups(): string[] {
    return [...this.groups.keys()].filter((g) => this.members(g).length > 0);
  }

  processExited(ref: Ref): void {
    if (ref.node !== this.node) return;
    const name = this.claimOf.get(ref.id);
    if (name !== undefined) this.unregister(name);
    const of = this.groupsOf.get(ref.id);
    if (of !== undefined) for (const g of [...of]) this.leave(g, ref);
  }

  // ---- node lifecycle ----------------------------------------------------------

  /**
   * @internal Deletes the store entries of gone nodes (called on the lowest live
   * node after a node went down) and of this node's earlier incarnations.
   */
  sweep(entries: Iterable<StoreEntry>): void {
    for (const e of entries) {
      if (e.value === undefined || !(e.key.startsWith('n.') || e.key.startsWith('g.'))) continue;
      const h = unpackHolder(e.value);
      if (this.membership!.isGone(h.node, h.inc)) this.write(() => this.store!.delete(e.key, e.revision));
    }
  }

  /** @internal After a partition healed: put back our claims the others removed while we were away. */
  reassert(): void {
    for (const claim of [...this.claims.values()]) {
      this.write(async () => {
        const cur = await this.entryOf(claim.name);
        if (cur !== undefined && cur.holder.node === this.node && cur.holder.id === claim.ref.id) return;
        if (cur !== undefined) return this.lose(claim, toRef(cur.holder));
        const rev = await this.store!.create(nameKey(claim.name), this.holderBytes(claim.ref));
        if (rev === undefined) this.lose(claim, undefined);
        else this.claimWritten(claim, rev);
      });
    }
    for (const [group, members] of this.groups) for (const m of members.values()) if (m.ref.node === this.node) this.write(async () => {
      const rev = await this.store!.create(groupKey(group, this.node, m.ref.id), this.holderBytes(m.ref));
      if (rev !== undefined) m.revision = rev;
    });
  }

  /** Resolves when every store write issued so far has settled. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  // ---- internals ---------------------------------------------------------------

  private holderBytes(ref: Ref): Uint8Array {
    return packHolder({ node: this.node, inc: this.inc, id: ref.id });
  }

  private write(fn: () => Promise<unknown>): void {
    const p = fn().catch((err: unknown) => {
      this.errors++;
      this.onError(err);
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async entryOf(name: string): Promise<NameEntry | undefined> {
    const e = await this.store!.get(nameKey(name));
    return e?.value === undefined ? undefined : { holder: unpackHolder(e.value), revision: e.revision };
  }

  private addClaim(name: string, ref: Ref): LocalClaim {
    const claim: LocalClaim = { name, ref, revision: 0, released: false };
    this.claims.set(name, claim);
    this.claimOf.set(ref.id, name);
    return claim;
  }

  private dropClaim(claim: LocalClaim): void {
    claim.released = true;
    if (this.claims.get(claim.name) === claim) this.claims.delete(claim.name);
    if (this.claimOf.get(claim.ref.id) === claim.name) this.claimOf.delete(claim.ref.id);
  }

  private claimWritten(claim: LocalClaim, rev: number): void {
    claim.revision = rev;
    // Released (unregistered or exited) while the write was in flight: undo it.
    if (claim.released) this.deleteName(claim.name, rev);
  }

  /** Our process lost its name to `to`: it gets the clean, trappable `{shutdown: {nameLost}}`. */
  private lose(claim: LocalClaim, to: Ref | undefined): void {
    if (claim.released) return;
    this.dropClaim(claim);
    const reason: NameLost = { shutdown: { nameLost: claim.name, to } };
    deliverExit({ node: this.node, id: 0 }, claim.ref, reason);
  }

  private deleteName(name: string, revision: number): void {
    this.write(() => this.store!.delete(nameKey(name), revision));
  }

  private applyName(name: string, e: StoreEntry): void {
    if (e.value === undefined) {
      this.names.delete(name);
      return;
    }
    const holder = unpackHolder(e.value);
    this.names.set(name, { holder, revision: e.revision });
    // Another process now holds a name one of ours claims: ours lost it (takeover).
    const claim = this.claims.get(name);
    if (claim !== undefined && claim.revision !== 0 && e.revision > claim.revision && !(holder.node === this.node && holder.id === claim.ref.id)) {
      this.lose(claim, toRef(holder));
    }
  }

  private applyMember(e: StoreEntry): void {
    const parts = e.key.split('.');
    const group = unb64(parts[1]!);
    const node = parts[2]!;
    if (node === this.node && (e.value === undefined || unpackHolder(e.value).inc === this.inc)) return; // ours: the local view leads
    let members = this.groups.get(group);
    if (e.value === undefined) {
      members?.delete(e.key);
      if (members?.size === 0) this.groups.delete(group);
      return;
    }
    const h = unpackHolder(e.value);
    if (members === undefined) this.groups.set(group, (members = new Map()));
    members.set(e.key, { ref: toRef(h), inc: h.inc, revision: e.revision });
  }
}

function toRef(h: Holder): Ref {
  return { node: h.node, id: h.id };
}

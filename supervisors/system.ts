/**
 * The actor system of one node: nact's root cell, the process table (id → cell,
 * so a send costs two map lookups and never walks nact's path), the registry,
 * the report stream and the monotonic clock that restart intensity reads.
 */
import { startNactSystem, type NactSystemCell } from './nact-bridge.ts';
import { LocalRegistry, type Registry } from './registry.ts';
import { ReportStream } from './reports.ts';
import type { Ref } from './types.ts';
import type { Cell } from './cell.ts';

/** Options of `startSystem`. */
export interface SystemOptions {
  /** Node name carried by every ref. @default `node-<random>` */
  node?: string;
  /** Monotonic clock in seconds; restart intensity reads it (tests inject a fake one). @default performance.now() / 1000 */
  clock?: () => number;
  /** Builds the registry; the cluster layer passes a replicated one. @default a `LocalRegistry` */
  registry?: (isAlive: (ref: Ref) => boolean) => Registry;
}

/** Defaults of `SystemOptions`. */
export const DEFAULT_SYSTEM_OPTIONS = {
  clock: (): number => performance.now() / 1000,
  registry: (isAlive: (ref: Ref) => boolean): Registry => new LocalRegistry(isAlive),
} as const;

const systems = new Map<string, ActorSystem>();
let lastSystem: ActorSystem | undefined;

/** One node's actor system. Create it with `startSystem`. */
export class ActorSystem {
  /** Node name, as in every ref of this system. */
  readonly node: string;
  /** Named processes and process groups. */
  readonly registry: Registry;
  /** Start, restart, crash and shutdown reports. */
  readonly reports = new ReportStream();
  /** Monotonic seconds. */
  readonly clock: () => number;
  /** The pseudo-process that stands for code outside any process (`from` of its exit signals). */
  readonly root: Ref;
  /** @internal id → live process. */
  readonly processes = new Map<number, Cell>();
  /** @internal nact's root cell; unlinked processes hang under it. */
  readonly nactRoot: NactSystemCell;
  /** @internal */
  nextId = 1;
  /** @internal */
  nextMonitorId = 1;
  private stopping: Promise<void> | undefined = undefined;

  /** @internal use `startSystem`. */
  constructor(options: SystemOptions) {
    this.node = options.node ?? `node-${Math.random().toString(36).slice(2, 10)}`;
    if (systems.has(this.node)) throw new Error(`actor system ${this.node} already runs in this process`);
    this.clock = options.clock ?? DEFAULT_SYSTEM_OPTIONS.clock;
    this.root = { node: this.node, id: 0 };
    this.registry = (options.registry ?? DEFAULT_SYSTEM_OPTIONS.registry)((ref) => lookupCell(ref) !== undefined);
    this.nactRoot = startNactSystem(this.node);
    systems.set(this.node, this);
  }

  /** Number of live processes. */
  get processCount(): number {
    return this.processes.size;
  }

  /**
   * Stops every process, as an application stop does: top-level processes get
   * `shutdown` from the root in reverse start order (supervisors shut their trees
   * down), and anything left is killed. Then the nact system stops.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const top = [...this.nactRoot.children.values()].reverse() as Cell[];
      for (const cell of top) await cell.shutdownFromRoot();
      for (const cell of [...this.processes.values()]) cell.exitSignal(this.root, 'kill');
      this.nactRoot.stop();
      systems.delete(this.node);
      if (lastSystem === this) lastSystem = undefined;
    })();
    return this.stopping;
  }
}

/** Starts the actor system of a node. */
export function startSystem(options: SystemOptions = {}): ActorSystem {
  return new ActorSystem(options);
}

/** The system running `node` in this process, if any. */
export function systemOf(node: string): ActorSystem | undefined {
  return systems.get(node);
}

/** @internal The live cell behind a ref (hot path: no allocation). */
export function lookupCell(ref: Ref): Cell | undefined {
  let s = lastSystem;
  if (s === undefined || s.node !== ref.node) {
    s = systems.get(ref.node);
    if (s === undefined) return undefined;
    lastSystem = s;
  }
  return s.processes.get(ref.id);
}

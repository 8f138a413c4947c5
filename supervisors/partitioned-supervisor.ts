/**
 * A partitioned dynamic supervisor (OTP `partition_supervisor`): a one_for_one
 * supervisor of `partitions` dynamic supervisors, each registered as
 * `<name>/<i>`. A child goes to the partition its key hashes to (round robin
 * without a key), so no single supervisor serialises every start, each
 * partition's maps stay a fraction of the total, and a restart storm escalates
 * only its partition (which its parent then restarts alone, as OTP does).
 * Routing reads the registry, so a restarted partition is found under its name.
 */
import type { StartResult } from './runtime-messages.ts';
import type { ChildSpec } from './child-spec.ts';
import { dynamicSupervisorChild } from './dynamic-supervisor.ts';
import { ActorError } from './errors.ts';
import { type SpawnParent } from './gen-server.ts';
import { countChildren, startChild, terminateChild, whichChildren, type ChildCounts, type ChildInfo } from './supervisor-api.ts';
import { startSupervisor } from './supervisor.ts';
import { lookupCell, systemOf } from './system.ts';
import type { Ref } from './types.ts';

/** Options of `startPartitionedSupervisor`. */
export interface PartitionedSupervisorSpec {
  /** Registry prefix: partition `i` is registered as `<name>/<i>`. */
  readonly name: string;
  /** Number of partitions. @default 8 */
  readonly partitions?: number;
  /** Per-partition restart intensity. @default 1 */
  readonly intensity?: number;
  /** Per-partition intensity window, seconds. @default 5 */
  readonly period?: number;
  /** Per-partition child limit. @default Infinity */
  readonly maxChildren?: number;
  /** Restarts of partitions the outer supervisor allows per `period` (Elixir's PartitionSupervisor default). @default 3 */
  readonly outerIntensity?: number;
}

/** Defaults of `PartitionedSupervisorSpec`. */
export const DEFAULT_PARTITIONED_SUPERVISOR = { partitions: 8, intensity: 1, period: 5, maxChildren: Infinity, outerIntensity: 3 } as const;

/** A running partitioned supervisor: plain values, safe to pass around. */
export interface PartitionedSupervisor {
  /** The outer (one_for_one) supervisor. */
  readonly ref: Ref;
  readonly name: string;
  readonly partitions: number;
}

let roundRobin = 0;

function hashKey(key: string | number): number {
  if (typeof key === 'number' && Number.isInteger(key)) return key >>> 0;
  const s = String(key);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Starts the partitions under one supervisor linked to `parent`. */
export async function startPartitionedSupervisor(parent: SpawnParent, spec: PartitionedSupervisorSpec): Promise<PartitionedSupervisor> {
  const partitions = spec.partitions ?? DEFAULT_PARTITIONED_SUPERVISOR.partitions;
  if (!Number.isInteger(partitions) || partitions < 1) throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid partitions ${partitions}`);
  const children: ChildSpec[] = [];
  for (let i = 0; i < partitions; i++) {
    children.push(
      dynamicSupervisorChild(
        `${spec.name}/${i}`,
        {
          intensity: spec.intensity ?? DEFAULT_PARTITIONED_SUPERVISOR.intensity,
          period: spec.period ?? DEFAULT_PARTITIONED_SUPERVISOR.period,
          maxChildren: spec.maxChildren ?? DEFAULT_PARTITIONED_SUPERVISOR.maxChildren,
        },
        { name: `${spec.name}/${i}` },
      ),
    );
  }
  const r: StartResult = await startSupervisor(parent, {
    strategy: 'one_for_one',
    intensity: spec.outerIntensity ?? DEFAULT_PARTITIONED_SUPERVISOR.outerIntensity,
    period: spec.period ?? DEFAULT_PARTITIONED_SUPERVISOR.period,
    children,
  });
  if (typeof r !== 'object' || !('ok' in r)) throw new ActorError('PARLEY_ERR_START_CHILD', `partitioned supervisor ${spec.name} failed to start`, r === 'ignore' ? undefined : r.error);
  return { ref: r.ok, name: spec.name, partitions };
}

/** The partition (a dynamic supervisor) that `key` maps to; round robin without a key. */
export function partitionFor(sup: PartitionedSupervisor, key?: string | number): Ref {
  const i = key === undefined ? roundRobin++ % sup.partitions : hashKey(key) % sup.partitions;
  const ref = systemOf(sup.ref.node)?.registry.whereis(`${sup.name}/${i}`);
  if (ref === undefined) throw new ActorError('PARLEY_ERR_NOPROC', `partition ${sup.name}/${i} is not running`);
  return ref;
}

/** Starts a child in the partition of `key` (round robin without a key). */
export function startPartitionedChild(sup: PartitionedSupervisor, spec: ChildSpec, key?: string | number): Promise<Ref | undefined> {
  return startChild(partitionFor(sup, key), spec);
}

/** Shuts a child down, in whichever partition holds it. */
export function terminatePartitionedChild(sup: PartitionedSupervisor, child: Ref): Promise<void> {
  const cell = lookupCell(child);
  if (cell === undefined) return Promise.reject(new ActorError('PARLEY_ERR_CHILD_NOT_FOUND', 'no such child'));
  return terminateChild({ node: child.node, id: cell.parentId }, child);
}

/** Children counts summed over the partitions. */
export async function countPartitionedChildren(sup: PartitionedSupervisor): Promise<ChildCounts> {
  const all = await Promise.all(Array.from({ length: sup.partitions }, (_, i) => countChildren(partitionByIndex(sup, i))));
  return all.reduce((a, c) => ({ specs: a.specs + c.specs, active: a.active + c.active, supervisors: a.supervisors + c.supervisors, workers: a.workers + c.workers }));
}

/** Every child of every partition. */
export async function whichPartitionedChildren(sup: PartitionedSupervisor): Promise<ChildInfo[]> {
  const all = await Promise.all(Array.from({ length: sup.partitions }, (_, i) => whichChildren(partitionByIndex(sup, i))));
  return all.flat();
}

function partitionByIndex(sup: PartitionedSupervisor, i: number): Ref {
  const ref = systemOf(sup.ref.node)?.registry.whereis(`${sup.name}/${i}`);
  if (ref === undefined) throw new ActorError('PARLEY_ERR_NOPROC', `partition ${sup.name}/${i} is not running`);
  return ref;
}

/**
 * Sharding of a run's connections over worker processes, loopback source
 * addresses and gateway targets. Pure: the orchestrator and each worker
 * compute the same routes from the connection index alone.
 *
 * - Workers hold contiguous index ranges of ≤ maxPerWorker connections (the
 *   per-process open-file limit is 20,000), balanced to within one pair.
 * - Connection i leaves from sourceAddresses[i mod A]: each address carries
 *   ⌈N / A⌉ connections, under its ephemeral port range.
 * - Independent nodes (each its own store): connection i goes to
 *   targets[⌊i / 2⌋ mod T], so both ends of a pair (2k, 2k+1) reach the same
 *   node, which they must, and a reconnect finds its account where it was made.
 * - Clustered nodes with `crossNode`: the sender 2k goes to targets[k mod T]
 *   and its receiver 2k+1 to the next one, targets[(k + 1) mod T], so every
 *   message crosses the cluster transport (T ≥ 2); each node holds senders and
 *   receivers alike. Reconnection number h (a storm) moves a connection h
 *   nodes further on: it logs in where it was not, and the pair stays split.
 */

/** One worker's share: connections [first, first + count). */
export interface WorkerShard {
  readonly index: number;
  readonly first: number;
  readonly count: number;
}

/** Where connection i connects from and to. */
export interface ConnectionRoute {
  readonly address: string;
  readonly target: string;
}

/** Default first loopback source address (127.0.0.1 is where the gateways listen). */
export const FIRST_SOURCE_OCTET = 2;

/** How many worker processes `connections` needs at least. */
export function workersNeeded(connections: number, maxPerWorker: number): number {
  return Math.max(1, Math.ceil(connections / maxPerWorker));
}

/** How many gateway nodes `connections` needs at least. */
export function nodesNeeded(connections: number, maxPerNode: number): number {
  return Math.max(1, Math.ceil(connections / maxPerNode));
}

/**
 * Splits [0, connections) over workers: `requested` workers, raised to what
 * maxPerWorker needs. Shares are whole pairs (even) except possibly the last,
 * so a pair never spans two processes.
 */
export function planWorkers(connections: number, maxPerWorker: number, requested = 0): WorkerShard[] {
  if (!Number.isInteger(connections) || connections <= 0) throw new RangeError(`connections must be a positive integer, got ${connections}`);
  if (maxPerWorker < 2) throw new RangeError('maxPerWorker must be at least 2');
  const pairs = Math.ceil(connections / 2);
  const maxPairs = Math.floor(maxPerWorker / 2);
  const workers = Math.min(pairs, Math.max(requested, Math.ceil(pairs / maxPairs)));
  const shards: WorkerShard[] = [];
  let firstPair = 0;
  for (let w = 0; w < workers; w++) {
    const share = Math.floor(pairs / workers) + (w < pairs % workers ? 1 : 0);
    const first = firstPair * 2;
    const count = Math.min(share * 2, connections - first);
    shards.push({ index: w, first, count });
    firstPair += share;
  }
  return shards;
}

/** The source addresses to use: the given ones, or 127.0.0.2, .3, … enough for `portsPerAddress` each. */
export function sourceAddresses(connections: number, portsPerAddress: number, given: readonly string[] = []): string[] {
  const needed = Math.max(1, Math.ceil(connections / portsPerAddress));
  if (given.length > 0) {
    if (given.length < needed) throw new RangeError(`${connections} connections need ${needed} source addresses at ${portsPerAddress} each; ${given.length} given`);
    return [...given];
  }
  if (needed > 250) throw new RangeError(`${connections} connections need ${needed} source addresses; at most 250 (127.0.0.2–127.0.0.251)`);
  return Array.from({ length: needed }, (_, k) => `127.0.0.${FIRST_SOURCE_OCTET + k}`);
}

/** How connections are placed on the gateway targets. */
export interface Placement {
  /** The two ends of a pair on different nodes, and reconnections moved to another node (clustered nodes only). @default false */
  readonly crossNode?: boolean;
  /** How many times the connection reconnected so far (0 for its first login); moves it only with `crossNode`. @default 0 */
  readonly hop?: number;
}

/** Index into the targets of connection `i` (see the header). */
export function targetIndex(i: number, targetCount: number, placement: Placement = {}): number {
  const pair = Math.floor(i / 2);
  if (placement.crossNode !== true) return pair % targetCount;
  return (pair + (i % 2) + (placement.hop ?? 0)) % targetCount;
}

/** Route of connection `i`. */
export function routeOf(i: number, addresses: readonly string[], targets: readonly string[], placement: Placement = {}): ConnectionRoute {
  return { address: addresses[i % addresses.length]!, target: targets[targetIndex(i, targets.length, placement)]! };
}

/** Connections per worker × address × target: what the plan puts where (reported, and checked by tests). */
export interface ShardCounts {
  readonly perWorker: number[];
  readonly perAddress: Record<string, number>;
  readonly perTarget: Record<string, number>;
  /** Distinct (worker, address, target) cells with at least one connection. */
  readonly cells: number;
  /** Pairs (2k, 2k+1) whose two ends go to different targets. */
  readonly pairsAcrossNodes: number;
}

/** Counts the plan by walking every route (O(N); cheap next to opening N sockets). */
export function countShards(shards: readonly WorkerShard[], addresses: readonly string[], targets: readonly string[], placement: Placement = {}): ShardCounts {
  const perAddress: Record<string, number> = Object.fromEntries(addresses.map((a) => [a, 0]));
  const perTarget: Record<string, number> = Object.fromEntries(targets.map((t) => [t, 0]));
  const cells = new Set<string>();
  let pairsAcrossNodes = 0;
  for (const s of shards) {
    for (let i = s.first; i < s.first + s.count; i++) {
      const r = routeOf(i, addresses, targets, placement);
      perAddress[r.address]!++;
      perTarget[r.target]!++;
      cells.add(`${s.index}|${r.address}|${r.target}`);
      if (i % 2 === 1 && r.target !== routeOf(i - 1, addresses, targets, placement).target) pairsAcrossNodes++;
    }
  }
  return { perWorker: shards.map((s) => s.count), perAddress, perTarget, cells: cells.size, pairsAcrossNodes };
}

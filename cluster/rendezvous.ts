/**
 * Rendezvous (highest-random-weight) hashing: the owner of a key is the node
 * with the highest hash(node, key). When a node leaves, only its keys move; when
 * one joins, it takes about 1/n of the keys. Pure, so every node with the same
 * view picks the same owner.
 */

/** 32-bit FNV-1a of `s`, finished with murmur3's avalanche. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The owner of `key` among `nodes` (undefined if none); ties go to the smaller name. */
export function rendezvousOwner(key: string, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const n of nodes) {
    const score = hash32(`${n}\u0000${key}`);
    if (score > bestScore || (score === bestScore && best !== undefined && n < best)) {
      best = n;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Per-connection heap breakdown: the difference of two V8 heap snapshots
 * (baseline and loaded, as `PARLEY_BENCH_HEAP_SNAPSHOTS=<dir> parley bench
 * idle …` writes them for gateway-0), grouped by constructor / node type,
 * divided by the connections the node held.
 *
 * Run: node --import tsx bench/harness/heap-diff.ts <baseline> <loaded> <connections> [top=25]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Bytes and counts by "type:name" (closures by their function name, strings and code by type). */
export function groupHeap(file: string): Map<string, { bytes: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const rawName = snap.strings[snap.nodes[i + nameAt]!]!;
    const name = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' ? rawName.slice(0, 60) : '';
    const key = `${type}:${name}`;
    const g = groups.get(key) ?? { bytes: 0, count: 0 };
    g.bytes += snap.nodes[i + sizeAt]!;
    g.count++;
    groups.set(key, g);
  }
  return groups;
}

if (process.argv[1]?.endsWith('heap-diff.ts')) {
  const [baseline, loaded, connections, top] = process.argv.slice(2);
  const n = Number(connections);
  const before = groupHeap(baseline!);
  const after = groupHeap(loaded!);
  const rows = [...after].map(([key, a]) => {
    const b = before.get(key) ?? { bytes: 0, count: 0 };
    return { key, bytesPerConnection: (a.bytes - b.bytes) / n, countPerConnection: (a.count - b.count) / n };
  }).sort((x, y) => y.bytesPerConnection - x.bytesPerConnection);
  const total = rows.reduce((s, r) => s + r.bytesPerConnection, 0);
  console.log(`heap delta per connection: ${total.toFixed(0)} B over ${n} connections`);
  console.log('| type:constructor | bytes / connection | objects / connection |\n| --- | ---: | ---: |');
  for (const r of rows.slice(0, Number(top ?? 25))) console.log(`| ${r.key} | ${r.bytesPerConnection.toFixed(0)} | ${r.countPerConnection.toFixed(2)} |`);
}

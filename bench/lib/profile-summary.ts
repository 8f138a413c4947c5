/**
 * Summarises a V8 `.cpuprofile` (from `--cpu-prof`): self time by function
 * and by file/package, as shares of the sampled time, so a bench's profile can
 * be read without DevTools.
 *
 * Run: node --import tsx bench/lib/profile-summary.ts <file.cpuprofile> [--top 40]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}
interface Profile { readonly nodes: ProfileNode[]; readonly samples: number[]; readonly timeDeltas: number[] }

/** Self time (µs) per function and per source bucket of one profile. */
export function summariseProfile(profile: Profile): { totalUs: number; byFunction: Map<string, number>; byBucket: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byBucket = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    const node = byId.get(id);
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\//, '');
    const short = file.includes('node_modules/')
      ? file.slice(file.lastIndexOf('node_modules/') + 13)
      : file.replace(/^.*\/(actors|server|store|protocol|supervisors|cluster|client|bench)\//, '$1/');
    const fn = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
    let bucket: string;
    if (file === '') bucket = functionName.startsWith('(') ? functionName : '(native)';
    else if (file.includes('node_modules/')) bucket = short.split('/')[0]!.startsWith('@') ? short.split('/').slice(0, 2).join('/') : short.split('/')[0]!;
    else if (file.startsWith('node:')) bucket = file;
    else bucket = short.split('/')[0]!;
    byBucket.set(bucket, (byBucket.get(bucket) ?? 0) + dt);
  });
  return { totalUs, byFunction, byBucket };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: profile-summary.ts <file.cpuprofile> [--top N]');
  const i = process.argv.indexOf('--top');
  const top = i >= 0 ? Number(process.argv[i + 1]) : 40;
  const { totalUs, byFunction, byBucket } = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  console.log(`sampled ${(totalUs / 1e6).toFixed(2)} s`);
  console.log('-- by bucket');
  for (const [k, v] of sorted(byBucket).slice(0, 25)) console.log(`${pct(v)}  ${k}`);
  console.log('-- by function (self)');
  for (const [k, v] of sorted(byFunction).slice(0, top)) console.log(`${pct(v)}  ${k}`);
}

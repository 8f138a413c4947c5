/**
 * Supervision runtime microbenchmarks, each next to a bare baseline measured in
 * the same run: an array mailbox drained by `queueMicrotask`, no supervision.
 * Also measures nact's stock dispatch and its children-map copy, which this
 * layer replaces. Prints one JSON line, then a table.
 *
 *   node --import tsx bench/supervisors/run.ts
 *
 * Each figure is the median of `REPEATS` runs. Bounded to about a minute.
 */
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import os from 'node:os';
import {
  call,
  cast,
  kill,
  okRef,
  startChild,
  startDynamicSupervisor,
  startLink,
  startSystem,
  worker,
  type ActorSystem,
  type Behaviour,
  type Ref,
} from '../../supervisors/index.ts';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;
const require = createRequire(import.meta.url);
const nact = require('nact') as {
  start(name: string): unknown;
  spawn(parent: unknown, f: (s: unknown, m: unknown, ctx: unknown) => unknown, name?: string, props?: object): unknown;
  dispatch(ref: unknown, msg: unknown): void;
  stop(ref: unknown): void;
};

const REPEATS = 3;
let nodeSeq = 0;
const newSys = (): ActorSystem => startSystem({ node: `bench-${++nodeSeq}` });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function repeat(f: () => Promise<number> | number): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    gc();
    out.push(await f());
  }
  return median(out);
}

// ---- the bare baseline ---------------------------------------------------------

type BareHandler = (state: number, msg: unknown, self: BareActor) => number;

class BareActor {
  mailbox: unknown[] = [];
  head = 0;
  scheduled = false;
  constructor(
    public state: number,
    public handler: BareHandler,
  ) {}
}

function bareDrain(a: BareActor): void {
  a.scheduled = false;
  const mb = a.mailbox;
  while (a.head < mb.length) a.state = a.handler(a.state, mb[a.head++], a);
  mb.length = 0;
  a.head = 0;
}

function bareSend(a: BareActor, msg: unknown): void {
  a.mailbox.push(msg);
  if (!a.scheduled) {
    a.scheduled = true;
    queueMicrotask(() => bareDrain(a));
  }
}

// ---- behaviours ------------------------------------------------------------------

const IDLE: Behaviour<number, number> = { name: 'idle', init: (n) => ({ ok: n }), handleCast: (_m, s) => ({ noreply: s }) };

// ---- measurements ------------------------------------------------------------------

async function spawnRate(n: number): Promise<{ ours: number; bare: number; nact: number }> {
  const ours = await repeat(async () => {
    const sys = newSys();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await startLink(sys, IDLE, i);
    const dt = performance.now() - t0;
    await sys.stop();
    return n / (dt / 1000);
  });
  const bare = await repeat(() => {
    const keep: BareActor[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) keep.push(new BareActor(i, (s) => s));
    return n / ((performance.now() - t0) / 1000);
  });
  const stock = await repeat(() => {
    const sys = nact.start(`nact-spawn-${++nodeSeq}`);
    const f = (s: unknown) => s;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) nact.spawn(sys, f, `a${i}`, { initialState: i });
    return n / ((performance.now() - t0) / 1000);
  });
  return { ours, bare, nact: stock };
}

async function memoryPerActor(n: number): Promise<{ ours: number; bare: number; nact: number }> {
  const sys = newSys();
  gc();
  let before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) await startLink(sys, IDLE, i);
  gc();
  const ours = (process.memoryUsage().heapUsed - before) / n;
  await sys.stop();
  gc();
  const handler: BareHandler = (s) => s;
  before = process.memoryUsage().heapUsed;
  const keep: BareActor[] = [];
  for (let i = 0; i < n; i++) keep.push(new BareActor(i, handler));
  gc();
  const bare = (process.memoryUsage().heapUsed - before) / n;
  keep.length = 0;
  gc();
  const nsys = nact.start(`nact-mem-${++nodeSeq}`);
  const f = (s: unknown) => s;
  before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) nact.spawn(nsys, f, `a${i}`, { initialState: i });
  gc();
  const stock = (process.memoryUsage().heapUsed - before) / n;
  return { ours, bare, nact: stock };
}

async function hopsOneActor(hops: number): Promise<{ ours: number; bare: number }> {
  const ours = await repeat(async () => {
    const sys = newSys();
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const pinger: Behaviour<number, void, { call: never; reply: never; cast: number; info: never }> = {
      name: 'pinger',
      init: () => ({ ok: 0 }),
      handleCast(m, s, ctx) {
        if (m < hops) cast(ctx.self, m + 1);
        else done();
        return { noreply: s };
      },
    };
    const ref = okRef(await startLink(sys, pinger, undefined));
    const t0 = performance.now();
    cast(ref, 0);
    await finished;
    const dt = performance.now() - t0;
    await sys.stop();
    return hops / (dt / 1000);
  });
  const bare = await repeat(async () => {
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const a = new BareActor(0, (s, m, self) => {
      if ((m as number) < hops) bareSend(self, (m as number) + 1);
      else done();
      return s;
    });
    const t0 = performance.now();
    bareSend(a, 0);
    await finished;
    return hops / ((performance.now() - t0) / 1000);
  });
  return { ours, bare };
}

async function hopsRing(size: number, hops: number): Promise<{ ours: number; bare: number }> {
  const ours = await repeat(async () => {
    const sys = newSys();
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const refs: Ref[] = [];
    const node: Behaviour<number, number, { call: never; reply: never; cast: number; info: never }> = {
      name: 'ring',
      init: (i) => ({ ok: i }),
      handleCast(m, i) {
        if (m >= hops) done();
        else cast(refs[(i + 1) % size]!, m + 1);
        return { noreply: i };
      },
    };
    for (let i = 0; i < size; i++) refs.push(okRef(await startLink(sys, node, i)));
    const t0 = performance.now();
    cast(refs[0]!, 0);
    await finished;
    const dt = performance.now() - t0;
    await sys.stop();
    return hops / (dt / 1000);
  });
  const bare = await repeat(async () => {
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const ring: BareActor[] = [];
    const handler: BareHandler = (i, m) => {
      if ((m as number) >= hops) done();
      else bareSend(ring[(i + 1) % size]!, (m as number) + 1);
      return i;
    };
    for (let i = 0; i < size; i++) ring.push(new BareActor(i, handler));
    const t0 = performance.now();
    bareSend(ring[0]!, 0);
    await finished;
    return hops / ((performance.now() - t0) / 1000);
  });
  return { ours, bare };
}

async function nactStockHops(hops: number): Promise<number> {
  return repeat(async () => {
    const sys = nact.start(`nact-hops-${++nodeSeq}`);
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const ref = nact.spawn(sys, (s, m, ctx) => {
      if ((m as number) < hops) nact.dispatch((ctx as { self: unknown }).self, (m as number) + 1);
      else done();
      return s;
    });
    const t0 = performance.now();
    nact.dispatch(ref, 0);
    await finished;
    return hops / ((performance.now() - t0) / 1000);
  });
}

async function callRoundTrips(n: number): Promise<{ ours: number; bare: number }> {
  const ours = await repeat(async () => {
    const sys = newSys();
    const server: Behaviour<number, void, { call: 'get'; reply: number; cast: never; info: never }> = {
      name: 'server',
      init: () => ({ ok: 1 }),
      handleCall: (_r, _f, s) => ({ reply: s, state: s }),
    };
    const ref = okRef(await startLink(sys, server, undefined));
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await call(ref, 'get');
    const dt = performance.now() - t0;
    await sys.stop();
    return n / (dt / 1000);
  });
  const bare = await repeat(async () => {
    const a = new BareActor(1, (s, m) => {
      (m as (v: number) => void)(s);
      return s;
    });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await new Promise<number>((resolve) => bareSend(a, resolve));
    return n / ((performance.now() - t0) / 1000);
  });
  return { ours, bare };
}

async function restartsPerSecond(restarts: number): Promise<{ ours: number; bare: number }> {
  const ours = await repeat(async () => {
    const sys = newSys();
    let count = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const crasher: Behaviour<number, void, { call: never; reply: never; cast: 'crash'; info: never }> = {
      name: 'crasher',
      init(_a, ctx) {
        if (count++ < restarts) cast(ctx.self, 'crash');
        else done();
        return { ok: 0 };
      },
      handleCast() {
        throw new Error('crash');
      },
    };
    // A vanishing period keeps the intensity window to one entry: this measures
    // crash -> terminate -> EXIT -> restart -> init, not the window's list (see BENCHMARKS.md).
    const sup = okRef(await startDynamicSupervisor(sys, { intensity: 1e9, period: 1e-6 }));
    const t0 = performance.now();
    await startChild(sup, worker('c', crasher, undefined));
    await finished;
    const dt = performance.now() - t0;
    await sys.stop();
    return restarts / (dt / 1000);
  });
  const bare = await repeat(async () => {
    let count = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const handler: BareHandler = () => {
      throw new Error('crash');
    };
    const spawnBare = (): void => {
      const a = new BareActor(0, (s, m, self) => {
        try {
          return handler(s, m, self);
        } catch {
          if (count++ < restarts) spawnBare();
          else done();
          return s;
        }
      });
      bareSend(a, 'crash');
    };
    const t0 = performance.now();
    spawnBare();
    await finished;
    return restarts / ((performance.now() - t0) / 1000);
  });
  return { ours, bare };
}

/**
 * µs per startChild in a dynamic supervisor that already holds `small` vs `large`
 * children. Two supervisors live in the same heap and are measured alternately,
 * so heap size, GC and JIT state weigh on both alike. The bare baseline inserts
 * into a Map of the same sizes.
 */
async function startChildCost(small: number, large: number, batch: number): Promise<{ ours: Record<number, number>; bare: Record<number, number> }> {
  const sys = newSys();
  const spec = worker('w', IDLE, 0);
  const measured = worker('m', IDLE, 0, { restart: 'temporary' });
  const handler: BareHandler = (s) => s;
  const sups = new Map<number, Ref>();
  const bareMaps = new Map<number, Map<number, BareActor>>();
  for (const size of [small, large]) {
    const sup = okRef(await startDynamicSupervisor(sys));
    const m = new Map<number, BareActor>();
    for (let i = 0; i < size; i++) {
      await startChild(sup, spec);
      m.set(i, new BareActor(i, handler));
    }
    sups.set(size, sup);
    bareMaps.set(size, m);
  }
  const samples = new Map<number, number[]>([[small, []], [large, []]]);
  const bareSamples = new Map<number, number[]>([[small, []], [large, []]]);
  for (let r = 0; r < REPEATS * 3; r++) {
    for (const size of [small, large]) {
      const sup = sups.get(size)!;
      gc();
      const t0 = performance.now();
      const started: Ref[] = [];
      for (let i = 0; i < batch; i++) started.push((await startChild(sup, measured))!);
      if (r > 0) samples.get(size)!.push(((performance.now() - t0) * 1000) / batch); // r = 0 warms up
      for (const ref of started) kill(ref); // temporary: not restarted, so the size is back to `size`
      await call(sup, { op: 'countChildren' }, Infinity);
      const m = bareMaps.get(size)!;
      const b0 = performance.now();
      for (let i = 0; i < batch; i++) m.set(size + i, new BareActor(i, handler));
      if (r > 0) bareSamples.get(size)!.push(((performance.now() - b0) * 1000) / batch);
      for (let i = 0; i < batch; i++) m.delete(size + i);
    }
  }
  await sys.stop();
  return {
    ours: { [small]: median(samples.get(small)!), [large]: median(samples.get(large)!) },
    bare: { [small]: median(bareSamples.get(small)!), [large]: median(bareSamples.get(large)!) },
  };
}

/** µs per message to a stock nact parent with `n` children: nact copies the children map into every context. */
async function nactParentMessageCost(sizes: readonly number[], messages: number): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  for (const n of sizes) {
    const sys = nact.start(`nact-parent-${++nodeSeq}`);
    let left = messages;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const parent = nact.spawn(sys, (s) => {
      if (--left === 0) done();
      return s;
    });
    const f = (s: unknown) => s;
    for (let i = 0; i < n; i++) nact.spawn(parent, f, `c${i}`);
    const t0 = performance.now();
    for (let i = 0; i < messages; i++) nact.dispatch(parent, i);
    await finished;
    out[n] = ((performance.now() - t0) * 1000) / messages;
    nact.stop(sys);
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const spawn = await spawnRate(50_000);
  const memory = await memoryPerActor(50_000);
  const one = await hopsOneActor(2_000_000);
  const ring = await hopsRing(1_000, 2_000_000);
  const nactHops = await nactStockHops(200_000);
  const calls = await callRoundTrips(200_000);
  const restarts = await restartsPerSecond(50_000);
  const startCost = await startChildCost(1_000, 100_000, 1_000);
  const nactParent = await nactParentMessageCost([1_000, 100_000], 200);
  const result = {
    bench: 'supervisors',
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    spawnPerSec: spawn,
    bytesPerIdleActor: memory,
    hopsPerSecOneActor: one,
    hopsPerSecRing1000: ring,
    hopsPerSecNactStock: nactHops,
    callRoundTripsPerSec: calls,
    restartsPerSec: restarts,
    startChildMicros: startCost,
    nactParentMessageMicros: nactParent,
    seconds: (Date.now() - started) / 1000,
  };
  console.log(JSON.stringify(result));
  const f = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
  const rows: [string, string, string, string][] = [
    ['spawn / s', f(spawn.ours), f(spawn.bare), `${(spawn.ours / spawn.bare).toFixed(3)} (nact stock ${f(spawn.nact)})`],
    ['bytes / idle actor', f(memory.ours), f(memory.bare), `${(memory.ours / memory.bare).toFixed(1)}x (nact stock ${f(memory.nact)})`],
    ['hops / s, one actor', f(one.ours), f(one.bare), `${(one.ours / one.bare).toFixed(2)} (nact stock ${f(nactHops)})`],
    ['hops / s, ring of 1,000', f(ring.ours), f(ring.bare), (ring.ours / ring.bare).toFixed(2)],
    ['call round trips / s', f(calls.ours), f(calls.bare), (calls.ours / calls.bare).toFixed(2)],
    ['supervised restarts / s', f(restarts.ours), f(restarts.bare), (restarts.ours / restarts.bare).toFixed(3)],
    ['startChild µs @ 1k children', f(startCost.ours[1_000]!), f(startCost.bare[1_000]!), ''],
    ['startChild µs @ 100k children', f(startCost.ours[100_000]!), f(startCost.bare[100_000]!), `100k/1k = ${(startCost.ours[100_000]! / startCost.ours[1_000]!).toFixed(2)}`],
    ['nact stock msg to parent µs @ 1k / 100k children', f(nactParent[1_000]!), f(nactParent[100_000]!), `100k/1k = ${(nactParent[100_000]! / nactParent[1_000]!).toFixed(0)}`],
  ];
  const w = [46, 14, 14, 40];
  const line = (c: readonly string[]) => c.map((x, i) => x.padEnd(w[i]!)).join(' | ');
  console.log(line(['measure', 'parley', 'bare baseline', 'ratio parley/bare']));
  console.log(w.map((n) => '-'.repeat(n)).join('-|-'));
  for (const r of rows) console.log(line(r));
  console.log(`(${REPEATS} runs each, median; ${result.seconds.toFixed(1)} s total)`);
}

await main();

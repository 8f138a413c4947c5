/**
 * Cluster microbenchmarks: the cost of a remote `call` against a local one, and
 * cross-node send throughput, each beside a baseline measured in the same run
 * (local call; bare NATS publish/subscribe of the same payload between the same
 * two connections). Two nodes run in this JS process, each with its own NATS
 * connection to the server at PARLEY_NATS_URL (default 127.0.0.1:4222), so a
 * remote call crosses the real server twice and both ends share one CPU.
 * Prints one JSON line, then a table.
 *
 *   node --import tsx bench/cluster/run.ts
 */
import os from 'node:os';
import { call, okRef, send, start, type Behaviour, type Ref } from '../../supervisors/index.ts';
import { connectNats, InProcessBus, JetStreamStore, MemoryStore, NatsTransport, startClusterNode, type ClusterNode } from '../../cluster/index.ts';
import { serviceSettings } from '../../scripts/services.ts';
import { LatencyRecorder } from '../lib/latency.ts';

const CALLS = 5_000;
const SENDS = 200_000;
const PAYLOAD = { kind: 'msg', id: 'a5f0c2d4-0000-4000-8000-000000000000', body: new Uint8Array(64) };

type P = { call: 'ping' | { forward: Ref; n: number } | 'count'; reply: unknown; cast: never; info: unknown };
const SINK: Behaviour<{ n: number }, undefined, P> = {
  name: 'sink',
  init: () => ({ ok: { n: 0 } }),
  handleCall(req, _from, state) {
    if (req === 'ping') return { reply: 'pong', state };
    if (req === 'count') return { reply: state.n, state };
    for (let i = 0; i < req.n; i++) send(req.forward, PAYLOAD);
    return { reply: 'sent', state };
  },
  handleInfo(_m, state) {
    state.n++;
    return { noreply: state };
  },
};

async function pair(kind: 'nats' | 'bus'): Promise<{ a: ClusterNode; b: ClusterNode; close: () => Promise<void> }> {
  const tag = `${process.pid}x${Date.now()}`;
  const cluster = `bench${tag}`;
  if (kind === 'bus') {
    const bus = new InProcessBus();
    const store = new MemoryStore();
    const a = await startClusterNode({ node: `ba${tag}`, transport: bus.endpoint(), store: store.client(), cluster });
    const b = await startClusterNode({ node: `bb${tag}`, transport: bus.endpoint(), store: store.client(), cluster });
    await a.membership.waitFor([b.name]);
    return { a, b, close: async () => void (await Promise.all([a.stop(), b.stop()])) };
  }
  const url = serviceSettings().natsUrl;
  const bucket = `parley_bench_${tag}`;
  const nca = await connectNats(url, `na${tag}`);
  const ncb = await connectNats(url, `nb${tag}`);
  const a = await startClusterNode({ node: `na${tag}`, transport: new NatsTransport(nca), store: await JetStreamStore.open(nca, bucket), cluster });
  const b = await startClusterNode({ node: `nb${tag}`, transport: new NatsTransport(ncb), store: await JetStreamStore.open(ncb, bucket), cluster });
  await Promise.all([a.membership.waitFor([b.name]), b.membership.waitFor([a.name])]);
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.stop(), b.stop()]);
      await (await nca.jetstreamManager()).streams.delete(`KV_${bucket}`).catch(() => false);
      await nca.close();
      await ncb.close();
    },
  };
}

/**
 * Sequential calls. Both nodes live in this JS process, where code outside a
 * callback reaches either node's processes directly, so the remote call goes
 * through node A's router explicitly: the path `call` takes inside a process on A.
 */
async function callLatency(via: ClusterNode | undefined, to: Ref, n: number): Promise<ReturnType<LatencyRecorder['summary']>> {
  const rec = new LatencyRecorder();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    if (via === undefined) await call(to as Ref<P>, 'ping');
    else await via.router.call(to, 'ping', 5_000);
    rec.recordMs(performance.now() - t);
  }
  return rec.summary();
}

/** `from` (on A) sends `n` messages to `to` (on B); throughput until B has counted them all. */
async function sendThroughput(from: Ref, to: Ref, n: number): Promise<number> {
  const before = (await call(to as Ref<P>, 'count')) as number;
  const t = performance.now();
  await call(from as Ref<P>, { forward: to, n });
  for (;;) {
    const got = ((await call(to as Ref<P>, 'count')) as number) - before;
    if (got >= n) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  return n / ((performance.now() - t) / 1000);
}

async function bareNatsThroughput(n: number): Promise<number> {
  const { Packr } = await import('msgpackr');
  const packr = new Packr({ useRecords: false });
  const url = serviceSettings().natsUrl;
  const pub = await connectNats(url, 'bench-pub');
  const sub = await connectNats(url, 'bench-sub');
  const subject = `bench.bare.${process.pid}`;
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  sub.subscribe(subject, {
    callback: (_e, m) => {
      packr.unpack(m.data);
      if (++got === n) done();
    },
  });
  await sub.flush();
  const t = performance.now();
  for (let i = 0; i < n; i++) pub.publish(subject, packr.pack({ k: 3, to: 1, cast: false, m: PAYLOAD }));
  await finished;
  const rate = n / ((performance.now() - t) / 1000);
  await pub.close();
  await sub.close();
  return rate;
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  for (const kind of ['bus', 'nats'] as const) {
    const { a, b, close } = await pair(kind);
    try {
      const localTarget = okRef(await start(a.system, SINK, undefined));
      const remoteTarget = okRef(await start(b.system, SINK, undefined));
      const sender = okRef(await start(a.system, SINK, undefined));
      await callLatency(a, remoteTarget, 500); // warm-up
      await callLatency(undefined, localTarget, 500);
      results[`${kind}.localCall`] = await callLatency(undefined, localTarget, CALLS);
      results[`${kind}.remoteCall`] = await callLatency(a, remoteTarget, CALLS);
      await sendThroughput(sender, remoteTarget, 10_000);
      results[`${kind}.sendPerSec`] = Math.round(await sendThroughput(sender, remoteTarget, SENDS));
    } finally {
      await close();
    }
  }
  results['nats.bareSendPerSec'] = Math.round(await bareNatsThroughput(SENDS));
  const line = { bench: 'cluster', at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load1: os.loadavg()[0], calls: CALLS, sends: SENDS, results };
  console.log(JSON.stringify(line));
  const lat = (k: string): { p50Ms: number; p99Ms: number } => results[k] as { p50Ms: number; p99Ms: number };
  const rows: [string, string, string][] = [
    ['local call (same node)', `${(lat('nats.localCall').p50Ms * 1000).toFixed(1)} µs`, `${(lat('nats.localCall').p99Ms * 1000).toFixed(1)} µs`],
    ['remote call, in-process bus', `${(lat('bus.remoteCall').p50Ms * 1000).toFixed(1)} µs`, `${(lat('bus.remoteCall').p99Ms * 1000).toFixed(1)} µs`],
    ['remote call, NATS', `${(lat('nats.remoteCall').p50Ms * 1000).toFixed(1)} µs`, `${(lat('nats.remoteCall').p99Ms * 1000).toFixed(1)} µs`],
  ];
  console.log('\n| figure | p50 | p99 |\n| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`| remote/local call p50 ratio (NATS) | ${(lat('nats.remoteCall').p50Ms / lat('nats.localCall').p50Ms).toFixed(0)}x | |`);
  console.log('\n| throughput | msgs/s |\n| --- | --- |');
  console.log(`| cross-node send, in-process bus | ${results['bus.sendPerSec']} |`);
  console.log(`| cross-node send, NATS | ${results['nats.sendPerSec']} |`);
  console.log(`| bare NATS pub/sub, same envelope (baseline) | ${results['nats.bareSendPerSec']} |`);
}

await main();

/**
 * Messaging bench: N sender→receiver pairs against a Parley node (durable:
 * every message committed to the embedded inbox before `sent`, deleted after
 * the receiver's ack) and against a bare `ws` relay, measured in the same run
 * with the same load client. Two modes each: peak throughput with a bounded
 * window, and latency at a fixed rate.
 *
 * Run: node --import tsx bench/messaging/run.ts [--pairs 50] [--window 32] [--duration 10] [--rate 5000] [--payload 100]
 *        [--only parley|relay] [--modes peak,rate] [--cpu-prof <dir>] [--node-flags "<flags>"] [--server-log] [--gc-stats]
 * `--only` measures one server (no ratios); `--cpu-prof` writes the servers'
 * V8 CPU profiles into <dir> when they stop; `--node-flags` passes Node/V8
 * flags to both server processes (e.g. GC settings); `--server-log` copies
 * the servers' output to stderr; `--gc-stats` runs the servers with
 * `--trace-gc-nvp` and reports their main thread's scavenges (count, pauses,
 * bytes promoted and surviving) and mark-compacts over each measured interval.
 * Prints one JSON line and a table. Servers run as separate processes, from
 * the compiled build (`npm run build`, done first); the load client runs in
 * this one; server CPU and RSS are read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildDist, compiledArgs } from '../lib/build.ts';
import { GcTrace, type GcSummary } from '../lib/gc-trace.ts';
import { cpuCores, sampleProcess } from '../lib/process-usage.ts';
import { relayDriver } from '../relay/relay-driver.ts';
import { parleyDriver } from './parley-driver.ts';
import { runPairLoad, type PairDriver, type PairLoadResult } from './pair-load.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const pairs = arg('pairs', 50);
const window = arg('window', 32);
const durationS = arg('duration', 10);
const rate = arg('rate', 5000);
const payload = arg('payload', 100);
const textArg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = textArg('only');
const cpuProfDir = textArg('cpu-prof');
const modes = (textArg('modes') ?? 'peak,rate').split(',') as ('peak' | 'rate')[];
const gcStats = process.argv.includes('--gc-stats');
const nodeFlags = [...(textArg('node-flags') ?? '').split(' ').filter((f) => f !== ''), ...(gcStats ? ['--trace-gc-nvp'] : [])];
const serverLog = process.argv.includes('--server-log');

interface Measured extends PairLoadResult {
  readonly serverCpuCores: number;
  readonly serverRssMb: number;
  /** CPU of this process (the load client) over the same run. */
  readonly clientCpuCores: number;
  /** The server's GC over the measured interval (`--gc-stats`). */
  readonly gc?: GcSummary;
}

/** Starts the compiled form of the source module `args[0]` with the rest of `args`. */
async function startServer(args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string; gc: GcTrace }> {
  const prof = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(cpuProfDir)];
  const child = spawn(process.execPath, [...prof, ...nodeFlags, ...compiledArgs(args[0]!), ...args.slice(1)], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Output is kept (for an exit before start-up) and matched until the server is ready, then only relayed.
  let out = '';
  let started = false;
  const gc = new GcTrace();
  child.stdout!.on('data', (d: Buffer) => gc.feed(d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      if (serverLog) process.stderr.write(d);
      if (started) return;
      out += d.toString();
      const m = ready.exec(out);
      if (m === null) return;
      started = true;
      resolve(m[1]!.startsWith('ws') ? m[1]! : `ws://127.0.0.1:${m[1]}`);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url, gc };
}

async function measure(server: { child: ChildProcess; gc: GcTrace }, driver: PairDriver, mode: 'peak' | 'rate'): Promise<Measured> {
  const { child, gc } = server;
  let before = sampleProcess(child.pid!);
  let after = before;
  let clientBefore = process.cpuUsage();
  let clientCpu = { user: 0, system: 0 };
  let t0 = performance.now();
  let elapsedMs = 1;
  // CPU over the measured interval only (not connection set-up or warm-up).
  const onMeasuring = (on: boolean) => {
    gc.measuring = on;
    if (on) {
      gc.reset();
      before = sampleProcess(child.pid!);
      clientBefore = process.cpuUsage();
      t0 = performance.now();
    } else {
      after = sampleProcess(child.pid!);
      clientCpu = process.cpuUsage(clientBefore);
      elapsedMs = performance.now() - t0;
    }
  };
  const result = await runPairLoad(driver, { pairs, window, durationS, warmupS: 2, rate: mode === 'rate' ? rate : undefined, onMeasuring });
  const gcSummary = gcStats ? gc.summary() : undefined;
  return {
    ...(gcSummary === undefined ? {} : { gc: gcSummary }),
    ...result,
    serverCpuCores: Number(cpuCores(before, after).toFixed(2)),
    serverRssMb: Math.round(after.rssBytes / 1e6),
    clientCpuCores: Number(((clientCpu.user + clientCpu.system) / 1000 / elapsedMs).toFixed(2)),
  };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

// Both servers run compiled, as `npm start` does (bench/lib/build.ts).
buildDist();
const results: Measured[] = [];
if (only !== 'parley') {
  const relay = await startServer(['bench/relay/bare-relay.ts'], /listening (\d+)/);
  try {
    for (const mode of modes) results.push(await measure(relay, relayDriver(relay.url, payload), mode));
  } finally {
    await stop(relay.child);
  }
}
if (only !== 'relay') {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-bench-'));
  const node = await startServer(['server/cli.ts', 'start', '--http-port', '0', '--gateway-port', '0', '--data-dir', dataDir, '--log-level', 'warn'], /gateway (ws:\/\/\S+)/);
  try {
    for (const mode of modes) results.push(await measure(node, parleyDriver(node.url, payload), mode));
  } finally {
    await stop(node.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const find = (driver: string, mode: string) => results.find((r) => r.driver === driver && r.mode === mode);
const ratio = (a: number | undefined, b: number | undefined, digits: number) =>
  a === undefined || b === undefined ? null : Number((a / b).toFixed(digits));
const summary = {
  bench: 'messaging-pairs',
  date: new Date().toISOString(),
  conditions: { pairs, window, durationS, rate, payloadBytes: payload, cores: 2 },
  results,
  ratios: {
    peakThroughputVsRelay: ratio(find('parley-node', 'peak')?.msgsPerS, find('bare-ws-relay', 'peak')?.msgsPerS, 3),
    p99AtRateVsRelay: ratio(find('parley-node', 'rate')?.latency.p99Ms, find('bare-ws-relay', 'rate')?.latency.p99Ms, 2),
  },
};
console.log(JSON.stringify(summary));
console.log('\n| server | mode | delivered msg/s | p50 ms | p99 ms | p99.9 ms | server CPU (cores) | server RSS MB | load client CPU (cores) |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(`| ${r.driver} | ${r.mode === 'rate' ? `rate ${rate}/s` : `peak (window ${window})`} | ${r.msgsPerS} | ${r.latency.p50Ms} | ${r.latency.p99Ms} | ${r.latency.p999Ms} | ${r.serverCpuCores} | ${r.serverRssMb} | ${r.clientCpuCores} |`);
}
console.log(`\nParley peak / relay peak = ${summary.ratios.peakThroughputVsRelay} (target ≥ 0.6); p99 at ${rate}/s: Parley / relay = ${summary.ratios.p99AtRateVsRelay} (target ≤ 2)`);
if (gcStats) {
  console.log('\n| server | mode | scavenges | mean pause ms | max pause ms | promoted KB / scavenge | survived KB / scavenge | allocated KB / scavenge | mark-compacts (pause ms) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const g = r.gc;
    if (g === undefined) continue;
    console.log(`| ${r.driver} | ${r.mode} | ${g.scavenges} | ${g.scavengePauseMeanMs} | ${g.scavengePauseMaxMs} | ${g.promotedMeanKb} | ${g.survivedMeanKb} | ${g.allocatedMeanKb} | ${g.markCompacts} (${g.markCompactPauseMs}) |`);
  }
}

/**
 * Messaging bench: N sender→receiver pairs against a Parley node (durable:
 * every message committed to the embedded inbox before `sent`, deleted after
 * the receiver's ack) and against a bare `ws` relay, measured in the same run
 * with the same load client. Two modes each: peak throughput with a bounded
 * window, and latency at a fixed rate.
 *
 * Run: node --import tsx bench/messaging/run.ts [--pairs 50] [--window 32] [--duration 10] [--rate 5000] [--payload 100]
 * Prints one JSON line and a table. Servers run as separate processes; the
 * load client runs in this one; server CPU and RSS are read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

interface Measured extends PairLoadResult {
  readonly serverCpuCores: number;
  readonly serverRssMb: number;
}

async function startServer(args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve(m[1]!.startsWith('ws') ? m[1]! : `ws://127.0.0.1:${m[1]}`);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url };
}

async function measure(child: ChildProcess, driver: PairDriver, mode: 'peak' | 'rate'): Promise<Measured> {
  const before = sampleProcess(child.pid!);
  const result = await runPairLoad(driver, { pairs, window, durationS, warmupS: 2, rate: mode === 'rate' ? rate : undefined });
  const after = sampleProcess(child.pid!);
  return { ...result, serverCpuCores: Number(cpuCores(before, after).toFixed(2)), serverRssMb: Math.round(after.rssBytes / 1e6) };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const results: Measured[] = [];
const relay = await startServer(['bench/relay/bare-relay.ts'], /listening (\d+)/);
try {
  results.push(await measure(relay.child, relayDriver(relay.url, payload), 'peak'));
  results.push(await measure(relay.child, relayDriver(relay.url, payload), 'rate'));
} finally {
  await stop(relay.child);
}
const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-bench-'));
const node = await startServer(['server/cli.ts', 'start', '--http-port', '0', '--gateway-port', '0', '--data-dir', dataDir, '--log-level', 'warn'], /gateway (ws:\/\/\S+)/);
try {
  results.push(await measure(node.child, parleyDriver(node.url, payload), 'peak'));
  results.push(await measure(node.child, parleyDriver(node.url, payload), 'rate'));
} finally {
  await stop(node.child);
  rmSync(dataDir, { recursive: true, force: true });
}

const find = (driver: string, mode: string) => results.find((r) => r.driver === driver && r.mode === mode)!;
const relayPeak = find('bare-ws-relay', 'peak');
const nodePeak = find('parley-node', 'peak');
const relayRate = find('bare-ws-relay', 'rate');
const nodeRate = find('parley-node', 'rate');
const summary = {
  bench: 'messaging-pairs',
  date: new Date().toISOString(),
  conditions: { pairs, window, durationS, rate, payloadBytes: payload, cores: 2 },
  results,
  ratios: {
    peakThroughputVsRelay: Number((nodePeak.msgsPerS / relayPeak.msgsPerS).toFixed(3)),
    p99AtRateVsRelay: Number((nodeRate.latency.p99Ms / relayRate.latency.p99Ms).toFixed(2)),
  },
};
console.log(JSON.stringify(summary));
console.log('\n| server | mode | delivered msg/s | p50 ms | p99 ms | p99.9 ms | server CPU (cores) | server RSS MB |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(`| ${r.driver} | ${r.mode === 'rate' ? `rate ${rate}/s` : `peak (window ${window})`} | ${r.msgsPerS} | ${r.latency.p50Ms} | ${r.latency.p99Ms} | ${r.latency.p999Ms} | ${r.serverCpuCores} | ${r.serverRssMb} |`);
}
console.log(`\nParley peak / relay peak = ${summary.ratios.peakThroughputVsRelay} (target ≥ 0.6); p99 at ${rate}/s: Parley / relay = ${summary.ratios.p99AtRateVsRelay} (target ≤ 2)`);

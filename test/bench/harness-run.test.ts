import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveBenchConfig } from '../../bench/harness/config.ts';
import { liveChildren } from '../../bench/harness/children.ts';
import { startBench } from '../../bench/harness/run.ts';
import type { BenchReport } from '../../bench/harness/report.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function assertNothingLeft(report: BenchReport): void {
  assert.equal(liveChildren(), 0, 'every worker and node process was stopped');
  for (const s of report.servers) assert.equal(alive(s.pid), false, `${s.name} (${s.pid}) is gone`);
}

test('bench harness - idle: 200 connections over 2 workers and 2 source addresses against 1 node, all authenticated and stopped', { timeout: 60_000 }, async () => {
  const config = resolveBenchConfig('idle', undefined, {
    connections: 200, workers: 2, sourceAddresses: ['127.0.0.2', '127.0.0.3'], nodes: 1, holdS: 1, rampRate: 1000, maxDurationS: 45, progress: false,
  });
  const report = await startBench(config, 'test idle').done;
  assert.equal(report.outcome, 'completed');
  assert.equal(report.scenario, 'idle');
  assert.deepEqual(report.plan.perWorker, [100, 100]);
  assert.deepEqual(report.plan.sourceAddresses, ['127.0.0.2', '127.0.0.3']);
  assert.equal(report.plan.targets.length, 1);
  assert.equal(report.connections.planned, 200);
  assert.equal(report.connections.authenticated, 200);
  assert.equal(report.connections.openAtHoldEnd, 200);
  assert.equal(report.errorsTotal, 0, JSON.stringify(report.errors));
  assert.equal(report.ramp.login.count, 200);
  assert.ok(report.ramp.connectionsPerS > 0);
  assert.equal(report.servers.length, 1);
  assert.equal(report.servers[0]!.connections, 200);
  assert.ok(report.servers[0]!.rssBytesLoaded > 0 && report.servers[0]!.heapBytesLoaded > 0, 'memory probed after the ramp');
  assert.notEqual(report.memoryPerConnection, null);
  assert.equal(report.loadGenerator.workers, 2);
  assertNothingLeft(report);
});

test('bench harness - oneToOne: 10 pairs for 2 s deliver what they send, with message latency percentiles', { timeout: 60_000 }, async () => {
  const config = resolveBenchConfig('oneToOne', undefined, {
    connections: 20, workers: 2, nodes: 1, holdS: 2, window: 4, maxDurationS: 45, progress: false,
  });
  const report = await startBench(config, 'test oneToOne').done;
  assert.equal(report.outcome, 'completed');
  assert.equal(report.connections.authenticated, 20);
  // Sends the node refuses (a store hiccup) are counted by code, not hidden.
  assert.equal(Object.values(report.errors).reduce((a, b) => a + b, 0), report.errorsTotal);
  assert.ok(report.throughput.delivered > 0, 'messages delivered in the measured window');
  assert.equal(report.latency.message.count, report.throughput.delivered);
  assert.ok(report.throughput.deliveredTotal <= report.throughput.sent);
  assert.ok(report.throughput.sent - report.throughput.deliveredTotal <= 10 * 4, 'at most one window per pair left in flight');
  const l = report.latency.message;
  assert.ok(l.p50Ms <= l.p90Ms && l.p90Ms <= l.p99Ms && l.p99Ms <= l.p999Ms && l.p999Ms <= l.maxMs);
  assertNothingLeft(report);
});

test('bench harness - offline: inboxes filled while receivers are away are drained when they log in', { timeout: 60_000 }, async () => {
  const config = resolveBenchConfig('offline', undefined, {
    connections: 20, nodes: 1, messagesPerInbox: 5, window: 4, holdS: 1, maxDurationS: 45, progress: false,
  });
  const report = await startBench(config, 'test offline').done;
  assert.equal(report.outcome, 'completed');
  assert.equal(report.connections.registeredInSetup, 10, 'receivers registered in setup');
  assert.equal(report.connections.authenticated, 20, 'senders in the ramp, receivers when draining');
  assert.equal(report.throughput.sent, 50);
  assert.equal(report.throughput.deliveredTotal, 50, 'every queued message reached its receiver');
  assert.equal(report.latency.message.count, 50);
  assertNothingLeft(report);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_BENCH, SCENARIO_PRESETS, readScenarioFile, resolveBenchConfig } from '../../bench/harness/config.ts';
import { flagsToConfig } from '../../bench/harness/cli.ts';

test('bench config - flags override the scenario file, which overrides the preset and the defaults', () => {
  const c = resolveBenchConfig('oneToOne', { connections: 400, rate: 100, window: 2 }, { rate: 500 });
  assert.equal(c.connections, 400);
  assert.equal(c.rate, 500);
  assert.equal(c.window, 2);
  assert.equal(c.holdS, SCENARIO_PRESETS.oneToOne.holdS);
  assert.equal(c.maxDurationS, DEFAULT_BENCH.maxDurationS);
});

test('bench config - every run is bounded and sane: over max connections, odd pairs, >19,000 per worker and non-loopback sources are refused', () => {
  assert.throws(() => resolveBenchConfig('idle', undefined, { connections: 2_000_000 }), /over --max-connections/);
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { connections: 3 }), /even number/);
  assert.throws(() => resolveBenchConfig('idle', undefined, { maxPerWorker: 20_000 }), /19000/);
  assert.throws(() => resolveBenchConfig('idle', undefined, { sourceAddresses: ['10.0.0.2'] }), /loopback/);
  assert.throws(() => resolveBenchConfig('idle', undefined, { maxDurationS: 0 }), /max-duration/);
  assert.throws(() => resolveBenchConfig('groupFanout', undefined, {}), /groups issue/);
});

test('bench config - a scenario file names its scenario and only known settings', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-config-'));
  try {
    const good = path.join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ scenario: 'reconnectStorm', connections: 50 }));
    assert.deepEqual(readScenarioFile(good), { scenario: 'reconnectStorm', connections: 50 });
    const unknown = path.join(dir, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ scenario: 'idle', conections: 50 }));
    assert.throws(() => readScenarioFile(unknown), /unknown setting "conections"/);
    const noScenario = path.join(dir, 'none.json');
    writeFileSync(noScenario, JSON.stringify({ connections: 50 }));
    assert.throws(() => readScenarioFile(noScenario), /"scenario" must be one of/);
    assert.equal(readScenarioFile(path.join(import.meta.dirname, '../../bench/harness/examples/one-to-one-at-rate.json')).scenario, 'oneToOne');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const NATS = 'nats://127.0.0.1:4222';

test('bench config - --cluster with started nodes: cross-node by default from 2 nodes on, --no-cross-node keeps pairs on one node', () => {
  const two = resolveBenchConfig('oneToOne', undefined, { nodes: 2, cluster: NATS });
  assert.equal(two.cluster, NATS);
  assert.equal(two.crossNode, true);
  assert.equal(resolveBenchConfig('oneToOne', undefined, { nodes: 2, cluster: NATS, crossNode: false }).crossNode, false);
  assert.equal(resolveBenchConfig('oneToOne', { crossNode: false }, { nodes: 2, cluster: NATS }).crossNode, false, 'a scenario file may turn it off');
  assert.equal(resolveBenchConfig('oneToOne', undefined, { nodes: 1, cluster: NATS }).crossNode, false, 'one clustered node: nothing to cross');
  assert.equal(resolveBenchConfig('idle', undefined, { connections: 40_000, nodes: 1, cluster: NATS }).crossNode, true, 'nodes raised to what the connections need count');
  assert.equal(resolveBenchConfig('oneToOne', undefined, { nodes: 2, cluster: 'nats://10.0.0.1:4222,nats://10.0.0.2:4222' }).crossNode, true, 'several NATS servers');
});

test('bench config - without --cluster nothing changes: independent nodes, pairs on one node', () => {
  const c = resolveBenchConfig('oneToOne', undefined, { nodes: 2 });
  assert.equal(c.cluster, undefined);
  assert.equal(c.crossNode, false);
  assert.equal(DEFAULT_BENCH.crossNode, false);
});

test('bench config - --cluster needs started nodes and NATS URLs; --cross-node needs a cluster and 2 nodes', () => {
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { nodes: 0, targets: ['ws://127.0.0.1:1'], cluster: NATS }), /--cluster clusters the nodes the run starts/);
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { nodes: 2, cluster: '127.0.0.1' }), /NATS URLs/);
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { nodes: 2, cluster: 'http://127.0.0.1:4222' }), /NATS URLs/);
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { nodes: 2, crossNode: true }), /--cross-node needs --cluster/);
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { nodes: 1, cluster: NATS, crossNode: true }), /at least 2 nodes/);
  assert.throws(() => resolveBenchConfig('oneToOne', undefined, { nodes: 0, targets: ['ws://127.0.0.1:1'], crossNode: true }), /at least 2 nodes/);
  const running = resolveBenchConfig('oneToOne', undefined, { nodes: 0, targets: ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], crossNode: true });
  assert.equal(running.crossNode, true, 'targets the operator says are one cluster');
});

test('bench config - the CLI flags --cluster, --cross-node and --no-cross-node reach the config (absent = undefined, so the default applies)', () => {
  assert.deepEqual([flagsToConfig({ cluster: NATS, nodes: '2' }).crossNode, flagsToConfig({ crossNode: true }).crossNode, flagsToConfig({ crossNode: false }).crossNode], [undefined, true, false]);
  assert.equal(flagsToConfig({ cluster: NATS }).cluster, NATS);
});

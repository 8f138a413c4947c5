import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_BENCH, SCENARIO_PRESETS, readScenarioFile, resolveBenchConfig } from '../../bench/harness/config.ts';

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

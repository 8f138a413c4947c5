import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countShards, nodesNeeded, planWorkers, routeOf, sourceAddresses, targetIndex, workersNeeded } from '../../bench/harness/sharding.ts';

test('bench sharding - 1,000,000 connections need 53 workers of at most 19,000, covering every index once', () => {
  const shards = planWorkers(1_000_000, 19_000);
  assert.equal(shards.length, 53);
  assert.equal(workersNeeded(1_000_000, 19_000), 53);
  let next = 0;
  for (const s of shards) {
    assert.equal(s.first, next, 'contiguous');
    assert.ok(s.count <= 19_000, `worker ${s.index} holds ${s.count}`);
    assert.equal(s.first % 2, 0, 'a pair never spans two workers');
    next += s.count;
  }
  assert.equal(next, 1_000_000);
  const counts = shards.map((s) => s.count);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 2, 'balanced to within one pair');
});

test('bench sharding - more workers than needed are honoured, fewer are raised to the limit', () => {
  assert.deepEqual(planWorkers(200, 19_000, 2).map((s) => [s.first, s.count]), [[0, 100], [100, 100]]);
  assert.equal(planWorkers(40_000, 19_000, 1).length, 3);
  assert.deepEqual(planWorkers(5, 19_000, 4).map((s) => s.count), [2, 2, 1], 'an odd last connection and no empty worker');
});

test('bench sharding - source addresses: enough from 127.0.0.2 for the ports per address, or the given ones', () => {
  assert.deepEqual(sourceAddresses(100_000, 25_000), ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']);
  assert.deepEqual(sourceAddresses(10, 25_000), ['127.0.0.2']);
  assert.deepEqual(sourceAddresses(10, 25_000, ['127.0.0.9', '127.0.0.10']), ['127.0.0.9', '127.0.0.10']);
  assert.throws(() => sourceAddresses(60_000, 25_000, ['127.0.0.9']), /need 3 source addresses/);
});

test('bench sharding - workers × addresses × targets: each address and target carries its share, pairs share a node', () => {
  const shards = planWorkers(100_000, 19_000);
  const addresses = sourceAddresses(100_000, 25_000);
  const targets = ['ws://127.0.0.1:1', 'ws://127.0.0.1:2', 'ws://127.0.0.1:3', 'ws://127.0.0.1:4', 'ws://127.0.0.1:5', 'ws://127.0.0.1:6'];
  assert.equal(nodesNeeded(100_000, 19_000), 6);
  const c = countShards(shards, addresses, targets);
  assert.equal(c.perWorker.length, 6);
  assert.equal(c.perWorker.reduce((a, b) => a + b, 0), 100_000);
  for (const a of addresses) assert.equal(c.perAddress[a], 25_000);
  for (const t of targets) assert.ok(c.perTarget[t]! <= 19_000 && c.perTarget[t]! >= 16_666, `${t}: ${c.perTarget[t]}`);
  for (const s of shards) {
    const used = { addresses: new Set<string>(), targets: new Set<string>() };
    for (let i = s.first; i < s.first + s.count; i++) {
      const r = routeOf(i, addresses, targets);
      used.addresses.add(r.address);
      used.targets.add(r.target);
    }
    assert.equal(used.addresses.size, 4, `worker ${s.index} uses every address`);
    assert.equal(used.targets.size, 6, `worker ${s.index} uses every target`);
  }
  assert.ok(c.cells >= 6 * 6);
  for (let i = 0; i < 1000; i += 2) assert.equal(routeOf(i, addresses, targets).target, routeOf(i + 1, addresses, targets).target);
  assert.notEqual(routeOf(0, addresses, targets).address, routeOf(1, addresses, targets).address);
});

test('bench sharding - independent nodes: both ends of every pair on one node, before and after a storm, whatever the hop', () => {
  const targets = ['ws://a', 'ws://b', 'ws://c'];
  const c = countShards(planWorkers(600, 19_000), ['127.0.0.2'], targets);
  assert.equal(c.pairsAcrossNodes, 0);
  for (const t of targets) assert.equal(c.perTarget[t], 200);
  for (let i = 0; i < 600; i++) {
    assert.equal(targetIndex(i, 3, { hop: 1 }), targetIndex(i, 3), 'a reconnect returns to the node that holds its account');
    assert.equal(targetIndex(i, 3, { crossNode: false }), Math.floor(i / 2) % 3);
  }
});

test('bench sharding - cross-node: every pair split over two nodes, each node holding senders and receivers alike', () => {
  for (const nodes of [2, 3, 5]) {
    const targets = Array.from({ length: nodes }, (_, t) => `ws://127.0.0.1:${1000 + t}`);
    const shards = planWorkers(3000, 700);
    const c = countShards(shards, ['127.0.0.2', '127.0.0.3'], targets, { crossNode: true });
    assert.equal(c.pairsAcrossNodes, 1500, `${nodes} nodes: every pair crosses`);
    assert.equal(c.perWorker.reduce((a, b) => a + b, 0), 3000);
    for (const t of targets) assert.ok(Math.abs(c.perTarget[t]! - 3000 / nodes) <= 1, `${nodes} nodes: ${t} holds ${c.perTarget[t]}`);
    const senders = new Array<number>(nodes).fill(0);
    const receivers = new Array<number>(nodes).fill(0);
    for (let i = 0; i < 3000; i++) (i % 2 === 0 ? senders : receivers)[targetIndex(i, nodes, { crossNode: true })]!++;
    for (let t = 0; t < nodes; t++) assert.ok(senders[t] === receivers[t] && senders[t]! > 0, `node ${t}: ${senders[t]} senders, ${receivers[t]} receivers`);
  }
});

test('bench sharding - cross-node storm: every reconnect logs in on another node than before, and its pair stays split', () => {
  const targets = ['ws://a', 'ws://b', 'ws://c'];
  const addresses = ['127.0.0.2'];
  for (let i = 0; i < 300; i++) {
    const before = routeOf(i, addresses, targets, { crossNode: true });
    const after = routeOf(i, addresses, targets, { crossNode: true, hop: 1 });
    assert.notEqual(after.target, before.target, `connection ${i} moved`);
    assert.equal(after.address, before.address, 'the source address stays');
    if (i % 2 === 1) assert.notEqual(after.target, routeOf(i - 1, addresses, targets, { crossNode: true, hop: 1 }).target, `pair ${(i - 1) / 2} still split`);
  }
  assert.equal(countShards(planWorkers(300, 19_000), addresses, targets, { crossNode: true, hop: 1 }).pairsAcrossNodes, 150);
});

test('bench sharding - cross-node on one target degenerates to that target (config refuses it before a run)', () => {
  assert.deepEqual([0, 1, 2, 3].map((i) => targetIndex(i, 1, { crossNode: true, hop: 1 })), [0, 0, 0, 0]);
});

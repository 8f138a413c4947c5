import { test } from 'node:test';
import assert from 'node:assert/strict';
import cassandra from 'cassandra-driver';
import { connect } from 'nats';
import pg from 'pg';
import { resolveBenchConfig } from '../../bench/harness/config.ts';
import { liveChildren } from '../../bench/harness/children.ts';
import { kvStreamOf, planClusterBackends, type ClusterBackends } from '../../bench/harness/cluster-backends.ts';
import { startBench } from '../../bench/harness/run.ts';
import { serviceSettings } from '../../scripts/services.ts';

/** Whether any process of the group `pgid` (a node and whatever it started) is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function schemaExists(b: ClusterBackends): Promise<boolean> {
  const client = new pg.Client({ connectionString: b.pgUrl });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [b.name]);
    return r.rowCount! > 0;
  } finally {
    await client.end();
  }
}

async function keyspaceExists(b: ClusterBackends): Promise<boolean> {
  const client = new cassandra.Client({ contactPoints: b.cassandraContactPoints.split(','), localDataCenter: b.cassandraLocalDataCenter });
  try {
    const r = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [b.name], { prepare: true });
    return r.rowLength > 0;
  } finally {
    await client.shutdown();
  }
}

async function streamExists(b: ClusterBackends): Promise<boolean> {
  const nc = await connect({ servers: b.natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    return await jsm.streams.info(kvStreamOf(b)).then(() => true, (err: Error) => {
      if (/stream not found/i.test(err.message)) return false;
      throw err;
    });
  } finally {
    await nc.close();
  }
}

test('bench harness - clustered oneToOne: 5 pairs split over 2 nodes deliver across NATS with no error; processes, schema, keyspace and KV stream are gone after', { timeout: 240_000 }, async () => {
  const natsUrl = serviceSettings().natsUrl;
  const config = resolveBenchConfig('oneToOne', undefined, {
    connections: 10, nodes: 2, cluster: natsUrl, holdS: 2, window: 4, maxDurationS: 200, progress: false,
  });
  assert.equal(config.crossNode, true, 'cross-node by default when clustered');
  const bench = startBench(config, 'test clustered oneToOne');
  assert.match(bench.cluster?.name ?? '', /^parley_bench_[0-9a-f]{10}$/);
  const report = await bench.done;

  assert.equal(report.outcome, 'completed');
  assert.ok(report.cluster !== null);
  assert.equal(report.cluster.name, bench.cluster!.name);
  assert.equal(report.cluster.nodes, 2);
  assert.equal(report.cluster.crossNode, true);
  assert.ok(report.cluster.readyS > 0, 'every node saw the other up before the load');
  assert.equal(report.plan.pairsAcrossNodes, 5, 'each pair has its sender on one node and its receiver on the other');
  assert.deepEqual(report.servers.map((s) => s.connections), [5, 5]);
  assert.equal(report.connections.authenticated, 10);
  assert.ok(report.throughput.delivered > 0, 'messages crossed from one node to the other in the measured window');
  assert.equal(report.latency.message.count, report.throughput.delivered);
  assert.ok(report.throughput.deliveredTotal <= report.throughput.sent);
  assert.equal(report.errorsTotal, 0, JSON.stringify(report.errors));
  // A node that stops after its peer logs `cluster.node_down:left`; a `timeout` would mean a node stalled under the load.
  for (const s of report.servers) assert.equal(s.warnings['cluster.node_down:timeout'] ?? 0, 0, `${s.name}: ${JSON.stringify(s.warnings)}`);

  assert.deepEqual(report.cluster.cleanup, { pgSchema: 'dropped', cassandraKeyspace: 'dropped', kvStream: 'dropped' });
  assert.equal(liveChildren(), 0, 'every worker and node process was stopped');
  for (const s of report.servers) assert.equal(groupAlive(s.pid), false, `${s.name} (${s.pid}) and its process group are gone`);
  const b = planClusterBackends(natsUrl, process.env, report.cluster.name);
  assert.equal(await schemaExists(b), false, `PostgreSQL schema ${b.name} dropped`);
  assert.equal(await keyspaceExists(b), false, `Cassandra keyspace ${b.name} dropped`);
  assert.equal(await streamExists(b), false, `${kvStreamOf(b)} deleted`);
});

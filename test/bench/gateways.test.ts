import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peersMissing, readLogLine } from '../../bench/harness/gateways.ts';
import { clusterNodeEnv, kvStreamOf, planClusterBackends } from '../../bench/harness/cluster-backends.ts';

const fresh = (nodeId: string) => ({ nodeId, peersUp: new Set<string>(), warnings: {} as Record<string, number> });

test('bench gateways - a clustered node is ready once its log names every other node up; other lines do not count', () => {
  const n = fresh('bench-0');
  const all = ['bench-0', 'bench-1', 'bench-2'];
  assert.deepEqual(peersMissing(n, all), ['bench-1', 'bench-2']);
  readLogLine(n, '{"level":"info","time":"…","node":"bench-0","component":"cluster","event":"cluster.joined","cluster":"c","nodes":["bench-0"],"msg":"joined the cluster"}');
  readLogLine(n, '{"level":"info","node":"bench-0","component":"cluster","event":"cluster.node_up","peer":"bench-2","msg":"node up"}');
  readLogLine(n, 'parley node bench-0 listening: gateway ws://127.0.0.1:1  health http://127.0.0.1:2/healthz');
  readLogLine(n, '{"level":"info","event":"cluster.node_up","peer":');
  assert.deepEqual(peersMissing(n, all), ['bench-1']);
  readLogLine(n, '{"level":"info","event":"cluster.node_up","peer":"bench-1"}');
  assert.deepEqual(peersMissing(n, all), []);
  assert.deepEqual(n.warnings, {}, 'info lines are not warnings');
});

test('bench gateways - warn-or-worse lines are counted by event and cause, supervisor reports by kind and exit reason', () => {
  const n = fresh('bench-1');
  readLogLine(n, '{"level":"warn","component":"cluster","event":"cluster.node_down","peer":"bench-0","cause":"timeout","msg":"node down"}');
  readLogLine(n, '{"level":"warn","component":"cluster","event":"cluster.node_down","peer":"bench-2","cause":"left","msg":"node down"}');
  readLogLine(n, '{"level":"warn","component":"supervisors","report":"child_exited","reason":"normal","msg":"child_exited"}');
  readLogLine(n, '{"level":"error","component":"supervisors","report":"crash","reason":{"error":"boom"},"msg":"crash"}');
  readLogLine(n, '{"level":"fatal","msg":"out of memory"}');
  readLogLine(n, '{"level":"debug","report":"started","msg":"started"}');
  assert.deepEqual(n.warnings, { 'cluster.node_down:timeout': 1, 'cluster.node_down:left': 1, 'child_exited:normal': 1, 'crash:{"error":"boom"}': 1, 'out of memory': 1 });
  assert.deepEqual([...n.peersUp], []);
});

test('bench cluster backends - one fresh name for the cluster, schema, keyspace and KV stream; servers from the environment or the local defaults', () => {
  const defaults = planClusterBackends('nats://127.0.0.1:4222', {});
  assert.match(defaults.name, /^parley_bench_[0-9a-f]{10}$/);
  assert.notEqual(planClusterBackends('nats://127.0.0.1:4222', {}).name, defaults.name, 'a name per run');
  assert.equal(defaults.pgUrl, 'postgres://postgres@127.0.0.1:5432/test');
  assert.equal(defaults.cassandraLocalDataCenter, 'datacenter1');
  assert.equal(defaults.redisGiven, false);
  assert.equal(kvStreamOf(defaults), `KV_${defaults.name}-registry`);
  const given = planClusterBackends('nats://n:4222', {
    PARLEY_PG_URL: 'postgres://u@db:5432/x', PARLEY_CASSANDRA_CONTACT_POINTS: 'c1:9042,c2:9042', PARLEY_CASSANDRA_LOCAL_DC: 'dc2', PARLEY_REDIS_URL: 'redis://r:6379',
  }, 'parley_bench_fixed');
  assert.deepEqual(clusterNodeEnv(given, true), {
    PARLEY_CLUSTER_NAME: 'parley_bench_fixed', PARLEY_PG_URL: 'postgres://u@db:5432/x', PARLEY_PG_SCHEMA: 'parley_bench_fixed',
    PARLEY_CASSANDRA_CONTACT_POINTS: 'c1:9042,c2:9042', PARLEY_CASSANDRA_LOCAL_DC: 'dc2', PARLEY_CASSANDRA_KEYSPACE: 'parley_bench_fixed',
    PARLEY_REDIS_URL: 'redis://r:6379',
  });
  assert.equal(given.redisGiven, true);
  assert.equal(clusterNodeEnv(given, false).PARLEY_REDIS_URL, undefined, 'no Redis: presence in memory');
});

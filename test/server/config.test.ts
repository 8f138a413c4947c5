import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadConfig, DEFAULT_CONFIG } from '../../server/config.ts';
import { isParleyError } from '../../protocol/errors.ts';

test('config - defaults run one node on the embedded store', () => {
  const c = loadConfig({}, {});
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.httpPort, DEFAULT_CONFIG.httpPort);
  assert.equal(c.gatewayPort, DEFAULT_CONFIG.gatewayPort);
  assert.equal(c.pgUrl, undefined);
  assert.equal(c.cassandraContactPoints, undefined);
  assert.equal(c.redisUrl, undefined);
  assert.equal(c.natsUrl, undefined);
  assert.equal(c.dataDir, path.resolve('./.data'));
  assert.equal(c.inboxDeferMs, 200);
  assert.equal(c.clusterForwardMs, 2000);
});

test('config - flags override PARLEY_* environment, which overrides defaults', () => {
  const env = { PARLEY_HTTP_PORT: '9000', PARLEY_GATEWAY_PORT: '9001', PARLEY_PG_URL: 'postgres://x@127.0.0.1/db', PARLEY_LOG_LEVEL: 'warn' };
  const c = loadConfig({ httpPort: '9100' }, env);
  assert.equal(c.httpPort, 9100);
  assert.equal(c.gatewayPort, 9001);
  assert.equal(c.pgUrl, 'postgres://x@127.0.0.1/db');
  assert.equal(c.logLevel, 'warn');
  assert.equal(loadConfig({ inboxDeferMs: '0' }, { PARLEY_INBOX_DEFER_MS: '50' }).inboxDeferMs, 0, 'the flag wins, 0 included');
  assert.equal(loadConfig({}, { PARLEY_INBOX_DEFER_MS: '50' }).inboxDeferMs, 50);
  assert.equal(loadConfig({ clusterForwardMs: '0' }, { PARLEY_CLUSTER_FORWARD_MS: '50' }).clusterForwardMs, 0, 'the flag wins, 0 included');
  assert.equal(loadConfig({}, { PARLEY_CLUSTER_FORWARD_MS: '500' }).clusterForwardMs, 500);
});

test('config - invalid values are PARLEY_ERR_CONFIG naming the setting and its variable', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PARLEY_HTTP_PORT: '70000' }, /httpPort \(PARLEY_HTTP_PORT\)/],
    [{ PARLEY_GATEWAY_PORT: 'abc' }, /gatewayPort \(PARLEY_GATEWAY_PORT\)/],
    [{ PARLEY_LOG_LEVEL: 'loud' }, /logLevel \(PARLEY_LOG_LEVEL\)/],
    [{ PARLEY_SHUTDOWN_TIMEOUT_MS: '-1' }, /shutdownTimeoutMs/],
    [{ PARLEY_HTTP_PORT: '9000', PARLEY_GATEWAY_PORT: '9000' }, /must differ/],
    [{ PARLEY_INBOX_DEFER_MS: '-5' }, /inboxDeferMs \(PARLEY_INBOX_DEFER_MS\)/],
    [{ PARLEY_INBOX_DEFER_MS: '1.5' }, /inboxDeferMs/],
    [{ PARLEY_INBOX_DEFER_MS: '60001' }, /inboxDeferMs/],
    [{ PARLEY_CLUSTER_FORWARD_MS: '-1' }, /clusterForwardMs \(PARLEY_CLUSTER_FORWARD_MS\)/],
    [{ PARLEY_CLUSTER_FORWARD_MS: '60001' }, /clusterForwardMs/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig({}, env), (err: unknown) => isParleyError(err, 'PARLEY_ERR_CONFIG') && message.test(err.message));
  }
});

test('config - a clustered node (--cluster / PARLEY_NATS_URL) needs shared stores and a plain node id', () => {
  const shared = { PARLEY_PG_URL: 'postgres://x@127.0.0.1/db', PARLEY_CASSANDRA_CONTACT_POINTS: '127.0.0.1:9042' };
  const c = loadConfig({ natsUrl: 'nats://127.0.0.1:4222', nodeId: 'n1' }, { ...shared, PARLEY_CLUSTER_NAME: 'blue' });
  assert.equal(c.natsUrl, 'nats://127.0.0.1:4222');
  assert.equal(c.clusterName, 'blue');
  assert.equal(c.commitHorizonMs, DEFAULT_CONFIG.commitHorizonMs);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PARLEY_CASSANDRA_CONTACT_POINTS: '127.0.0.1:9042' }, /pgUrl \(PARLEY_PG_URL\).*PostgreSQL/],
    [{ PARLEY_PG_URL: 'postgres://x@127.0.0.1/db' }, /cassandraContactPoints \(PARLEY_CASSANDRA_CONTACT_POINTS\).*Cassandra/],
    [{ ...shared, PARLEY_NODE_ID: 'n 1' }, /nodeId \(PARLEY_NODE_ID\)/],
    [{ ...shared, PARLEY_CLUSTER_NAME: 'a.b' }, /clusterName \(PARLEY_CLUSTER_NAME\)/],
    [{ ...shared, PARLEY_COMMIT_HORIZON_MS: '500' }, /commitHorizonMs \(PARLEY_COMMIT_HORIZON_MS\).*at least 1000/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig({ natsUrl: 'nats://127.0.0.1:4222' }, env), (err: unknown) => isParleyError(err, 'PARLEY_ERR_CONFIG') && message.test(err.message), String(message));
  }
});

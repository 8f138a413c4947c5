/**
 * A Parley cluster for end-to-end tests: N `parley start --cluster` processes
 * on free ports, on the suite's PostgreSQL, Cassandra and Redis (a fresh
 * schema and keyspace per cluster) and a NATS server (the suite's, or one the
 * test owns). Every node is started with a unique cluster name, so clusters of
 * tests running at the same time never hear each other. `stop` stops every
 * node still running and drops the schema, the keyspace and the cluster's
 * registry bucket (a NATS server the test stopped for good is skipped).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { serviceSettings } from '../../scripts/services.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';
import { freshBackends, type FreshBackends } from './backends.ts';
import { registryStream } from '../../server/chat-cluster.ts';
import { closeAllClients, spawnNodeProcess, type NodeProcess } from './test-node.ts';
import type { ForwardStats } from '../../actors/session-forward.ts';

/** One node process of the cluster. */
export interface ClusterMember {
  readonly nodeId: string;
  readonly url: string;
  readonly process: NodeProcess;
  /** Resolves once this node's log says it saw `peer` come up. */
  sawUp(peer: string): Promise<void>;
  /** Resolves once this node's log says `peer` went down. */
  sawDown(peer: string): Promise<void>;
  /** `kill -9`; resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface ChatClusterHandle {
  readonly clusterName: string;
  readonly backends: FreshBackends;
  readonly members: ClusterMember[];
  /** Starts one more node (e.g. a restarted one under the same id) with the same settings. */
  add(nodeId: string): Promise<ClusterMember>;
  stop(): Promise<void>;
}

export interface ChatClusterOptions {
  /** NATS URL. @default the suite's server */
  readonly natsUrl?: string;
  /** More environment for every node (e.g. PARLEY_COMMIT_HORIZON_MS). */
  readonly env?: NodeJS.ProcessEnv;
  /** Run the compiled build (dist/, built by the caller) instead of the sources through tsx. @default false */
  readonly compiled?: boolean;
}

/** The forward counters a clustered node logged when it stopped (`session.forward_stats`), or undefined if it did not. */
export function forwardStatsIn(output: string): ForwardStats | undefined {
  const line = output.split('\n').find((l) => l.includes('"event":"session.forward_stats"'));
  return line === undefined ? undefined : JSON.parse(line) as ForwardStats;
}

/** Starts `n` nodes `n1..nN` and waits until every node saw every other one. */
export async function startChatCluster(n: number, options: ChatClusterOptions = {}): Promise<ChatClusterHandle> {
  const services = serviceSettings();
  const cass = cassandraSettings();
  const clusterName = `t${randomBytes(5).toString('hex')}`;
  const backends = freshBackends('parley_cluster');
  const dirs: string[] = [];
  const members: ClusterMember[] = [];
  const natsUrl = options.natsUrl ?? services.natsUrl;
  const env: NodeJS.ProcessEnv = {
    PARLEY_NATS_URL: natsUrl,
    PARLEY_CLUSTER_NAME: clusterName,
    PARLEY_PG_URL: services.pgUrl,
    PARLEY_PG_SCHEMA: backends.schema,
    PARLEY_CASSANDRA_CONTACT_POINTS: cass.contactPoint,
    PARLEY_CASSANDRA_LOCAL_DC: cass.localDataCenter,
    PARLEY_CASSANDRA_KEYSPACE: backends.keyspace,
    PARLEY_REDIS_URL: services.redisUrl,
    ...options.env,
  };
  const add = async (nodeId: string): Promise<ClusterMember> => {
    const dir = mkdtempSync(path.join(tmpdir(), `parley-cluster-${nodeId}-`));
    dirs.push(dir);
    const proc = await spawnNodeProcess(dir, 0, { ...env, PARLEY_NODE_ID: nodeId }, ['--log-level', 'info'], options.compiled === true);
    const member: ClusterMember = {
      nodeId,
      url: proc.url,
      process: proc,
      sawUp: (peer) => proc.waitForOutput((out) => out.includes(`"event":"cluster.node_up","peer":"${peer}"`)),
      sawDown: (peer) => proc.waitForOutput((out) => out.includes(`"event":"cluster.node_down","peer":"${peer}"`)),
      async kill() {
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
        await proc.exit;
      },
      async stop() {
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
        return proc.exit;
      },
    };
    members.push(member);
    return member;
  };
  const handle: ChatClusterHandle = {
    clusterName,
    backends,
    members,
    add,
    async stop() {
      await closeAllClients();
      await Promise.all(members.map((m) => m.kill()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      await backends.drop();
      // The cluster's registry (a JetStream KV bucket) outlives its nodes: remove it.
      const nc = await connect({ servers: natsUrl, maxReconnectAttempts: 0 }).catch(() => undefined);
      if (nc !== undefined) {
        const jsm = await nc.jetstreamManager();
        await jsm.streams.delete(registryStream(clusterName)).catch(() => false);
        await nc.close();
      }
    },
  };
  try {
    // The first node creates the schema and keyspace; the others start after it (no migration race to wait out).
    await add('n1');
    const rest: Promise<ClusterMember>[] = [];
    for (let i = 2; i <= n; i++) rest.push(add(`n${i}`));
    await Promise.all(rest);
    // n1, n2, … in order, whichever process came up first
    members.sort((a, b) => Number(a.nodeId.slice(1)) - Number(b.nodeId.slice(1)));
    await Promise.all(members.flatMap((m) => members.filter((o) => o !== m).map((o) => m.sawUp(o.nodeId))));
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

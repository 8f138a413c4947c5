/**
 * What a clustered chat node adds to a single one (`parley start --cluster`):
 * its NATS connection, the cluster node (actor system with remote refs, the
 * cluster-wide registry over JetStream KV, membership), and the few chat
 * facts every node must hear about:
 *
 * - session names are claimed cluster-wide with takeover (one session per
 *   device in the whole cluster; the loser closes its connection 4409);
 * - a device added on one node is announced on `<cluster>.chat.devices` so
 *   every node drops its cached device list of that user;
 * - after a node went down, or this node was cut off from NATS (fenced, then
 *   unfenced), announcements of new inbox entries may have been lost: local
 *   sessions are told to look at their inbox again (`onResync`).
 */
import type { NatsConnection } from 'nats';
import { connectNats, JetStreamStore, NatsTransport, startClusterNode, type ClusterNode, type MembershipOptions } from '../cluster/index.ts';
import type { Ref } from '../supervisors/index.ts';
import type { NodeConfig } from './config.ts';
import type { Logger } from './log.ts';

/** The cluster side of a chat node. */
export interface ChatCluster {
  readonly node: ClusterNode;
  /** Claims `name` for `ref`, taking it over from any holder. */
  claimSession(name: string, ref: Ref): Promise<void>;
  /** Tells the other nodes that `userId`'s devices changed. */
  broadcastDevices(userId: string): void;
  onDevicesChanged(fn: (userId: string) => void): void;
  onResync(fn: () => void): void;
  /** Leaves the cluster (stops the actor system) and closes the NATS connection. */
  stop(): Promise<void>;
}

/** The JetStream KV bucket holding cluster `clusterName`'s registry (names, groups, leases). */
export function registryBucket(clusterName: string): string {
  return `${clusterName}-registry`;
}

/** The JetStream stream behind that bucket (what to delete to remove it). */
export function registryStream(clusterName: string): string {
  return `KV_${registryBucket(clusterName)}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Connects to NATS and joins the cluster `config.clusterName` as `config.nodeId`. */
export async function joinCluster(config: NodeConfig, log: Logger, membership: Partial<MembershipOptions> = {}): Promise<ChatCluster> {
  const nc: NatsConnection = await connectNats(config.natsUrl!.split(',').map((s) => s.trim()), config.nodeId);
  const transport = new NatsTransport(nc);
  let node: ClusterNode;
  try {
    const store = await JetStreamStore.open(nc, registryBucket(config.clusterName));
    node = await startClusterNode({ node: config.nodeId, transport, store, cluster: config.clusterName, membership });
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  const devicesSubject = `${config.clusterName}.chat.devices`;
  const deviceListeners: Array<(userId: string) => void> = [];
  const unsubscribeDevices = transport.subscribe(devicesSubject, (data) => {
    const userId = decoder.decode(data);
    for (const fn of deviceListeners) fn(userId);
  });
  const resyncListeners: Array<() => void> = [];
  const resync = () => {
    for (const fn of resyncListeners) fn();
  };
  const clusterLog = log.child({ component: 'cluster' });
  const offMembership = node.membership.onEvent((e) => {
    switch (e.type) {
      case 'up':
        clusterLog.info({ event: 'cluster.node_up', peer: e.node }, 'node up');
        return;
      case 'down':
        clusterLog.warn({ event: 'cluster.node_down', peer: e.node, cause: e.cause }, 'node down');
        resync();
        return;
      case 'fenced':
        clusterLog.warn({ event: 'cluster.fenced' }, 'cut off from the cluster');
        return;
      case 'unfenced':
        clusterLog.info({ event: 'cluster.unfenced' }, 'back in the cluster');
        resync();
        return;
    }
  });
  node.registry.onError = (err) => clusterLog.warn({ event: 'cluster.registry_write_failed', code: (err as { code?: string }).code }, 'registry write failed');
  clusterLog.info({ event: 'cluster.joined', cluster: config.clusterName, nodes: node.membership.upNodes() }, 'joined the cluster');
  let stopping: Promise<void> | undefined;
  return {
    node,
    async claimSession(name, ref) {
      const r = await node.registry.claim(name, ref, { takeover: true });
      if (!r.ok) throw new Error(`session name ${name} is held by ${r.holder.node}`);
    },
    broadcastDevices(userId) {
      transport.publish(devicesSubject, encoder.encode(userId));
    },
    onDevicesChanged(fn) {
      deviceListeners.push(fn);
    },
    onResync(fn) {
      resyncListeners.push(fn);
    },
    stop() {
      stopping ??= (async () => {
        offMembership();
        unsubscribeDevices();
        await node.stop();
        await nc.drain().catch(() => nc.close());
      })();
      return stopping;
    },
  };
}

/**
 * The chat part of a node: the actor system, the supervisors of sessions and
 * connections, the stores and the shared services. The gateway hands every
 * accepted socket to `acceptSocket`, which starts its Connection process.
 *
 * Tree (this part of ARCHITECTURE §3):
 *   system root
 *   ├── sessions     (partitioned dynamic supervisor, temporary children, keyed by device)
 *   └── connections  (partitioned dynamic supervisor, temporary children, round robin)
 * Both children kinds are temporary: a crashed connection is not restarted,
 * its client reconnects and resumes from the inbox.
 */
import { mkdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { resolveLimits, type ProtocolLimits } from '../protocol/index.ts';
import {
  logReports, send, startPartitionedChild, startPartitionedSupervisor, startSystem, worker,
  type ActorSystem, type PartitionedSupervisor, type Ref,
} from '../supervisors/index.ts';
import { openNodeStores, type NodeStores } from './stores.ts';
import { DeviceDirectory } from '../actors/device-directory.ts';
import { DEFAULT_CHAT_SETTINGS, type ChatServices, type ChatSettings } from '../actors/chat-services.ts';
import { CONNECTION } from '../actors/connection.ts';
import { KeysService, type KeysServiceOptions } from '../actors/keys-service.ts';
import { forwardStats } from '../actors/session-forward.ts';
import type { NodeConfig } from './config.ts';
import { joinCluster, type ChatCluster } from './chat-cluster.ts';
import type { MembershipOptions } from '../cluster/index.ts';
import type { SessionRef } from '../actors/session.ts';
import type { Logger } from './log.ts';

/** A running chat node core. */
export interface ChatNode {
  readonly system: ActorSystem;
  readonly services: ChatServices;
  readonly connections: PartitionedSupervisor;
  /** Starts the Connection process of a new socket. */
  acceptSocket(socket: WebSocket, request: IncomingMessage): void;
  /** Stops every process (sessions write last seen), then closes the stores. */
  stop(): Promise<void>;
}

/** Options beyond the node config (tests tune heartbeats and limits). */
export interface ChatNodeOptions {
  readonly settings?: Partial<ChatSettings>;
  readonly limits?: Partial<ProtocolLimits>;
  /** Pre-key service tunables (low-supply threshold, fetch rate limit). */
  readonly keys?: Partial<KeysServiceOptions>;
  /** Cluster heartbeat timing (tests shorten it). */
  readonly membership?: Partial<MembershipOptions>;
}

/** How long a stopping node waits for its sessions' last writes (a failing store's receipt retries take ~3.1 s). */
const FINAL_WRITES_MS = 5000;

/** `receiptFlushMs` on a clustered node (see ChatSettings). */
export const CLUSTER_RECEIPT_FLUSH_MS = 250;

/** Opens the stores and starts the chat processes. */
export async function startChatNode(config: NodeConfig, log: Logger, options: ChatNodeOptions = {}): Promise<ChatNode> {
  mkdirSync(config.dataDir, { recursive: true });
  const stores: NodeStores = await openNodeStores(
    config,
    (err) => log.warn({ event: 'presence.flush_failed', code: (err as { code?: string }).code }, 'presence flush failed; retried on the next heartbeat'),
    (message) => log.warn({ event: 'store.checkpoint_failed', message }, 'embedded WAL checkpoint failed; retried on the next tick'),
  );
  log.info({ event: 'node.stores', ...stores.backends }, 'stores open');
  let cluster: ChatCluster | undefined;
  if (config.natsUrl !== undefined) {
    try {
      cluster = await joinCluster(config, log, options.membership);
    } catch (err) {
      await stores.close();
      throw err;
    }
  }
  const system = cluster?.node.system ?? startSystem({ node: config.nodeId });
  // Progress reports (every start of every connection) are debug; crashes stay errors.
  const reportLog = log.child({ component: 'supervisors' });
  const unsubscribe = logReports(system.reports, {
    info: (obj, msg) => reportLog.debug(obj, msg),
    warn: (obj, msg) => reportLog.warn(obj, msg),
    error: (obj, msg) => reportLog.error(obj, msg),
  });
  try {
    // Registered names are cluster-wide in a cluster: each node's supervisors carry its name.
    const suffix = cluster === undefined ? '' : `@${config.nodeId}`;
    const sessions = await startPartitionedSupervisor(system, { name: `sessions${suffix}`, partitions: 8 });
    const connections = await startPartitionedSupervisor(system, { name: `connections${suffix}`, partitions: 8 });
    const localSessions = new Set<Ref>();
    const finalWrites = new Set<Promise<unknown>>();
    const directory = new DeviceDirectory(stores.accounts, cluster === undefined ? {} : { onInvalidate: (userId) => cluster.broadcastDevices(userId) });
    cluster?.onDevicesChanged((userId) => directory.forget(userId));
    // Announcements from a node that died, or sent while this node was cut off, may be lost: look again.
    cluster?.onResync(() => {
      for (const ref of localSessions) send(ref as SessionRef, { t: 'resync' });
    });
    const services: ChatServices = {
      accounts: stores.accounts,
      inbox: stores.inbox,
      presence: stores.presence,
      directory,
      localSessions,
      finalWrites,
      ...(cluster === undefined ? {} : { cluster: { claimSession: (name: string, ref: Ref) => cluster.claimSession(name, ref) } }),
      keys: new KeysService({ prekeys: stores.prekeys, accounts: stores.accounts, now: Date.now }, options.keys),
      system,
      sessionSupervisor: sessions,
      limits: resolveLimits(options.limits),
      // On the clustered (Cassandra) inbox every receipt append is three CQL round trips and every
      // ack window a delete batch: coalesce them over 250 ms (a "delivered" tick may lag that much).
      // Sends to devices online in the cluster are handed over first and stored only if not acked
      // within clusterForwardMs (actors/session-forward.ts).
      settings: {
        ...DEFAULT_CHAT_SETTINGS,
        ...(stores.inbox.multiWriter === undefined ? {} : { receiptFlushMs: CLUSTER_RECEIPT_FLUSH_MS, forwardMs: config.clusterForwardMs }),
        ...options.settings,
      },
      log: log.child({ component: 'chat' }),
      now: Date.now,
    };
    const forwarding = services.inbox.multiWriter !== undefined && services.settings.forwardMs > 0;
    return {
      system,
      services,
      connections,
      acceptSocket(socket, request) {
        // No frame may arrive before its process listens: paused until Connection.init resumes it.
        socket.pause();
        startPartitionedChild(connections, worker('connection', CONNECTION, { socket, remote: request.socket.remoteAddress ?? 'unknown', services }, { restart: 'temporary' }))
          .catch((err: unknown) => {
            log.error({ event: 'gateway.connection_start_failed', err }, 'connection process failed to start');
            socket.terminate();
          });
      },
      async stop() {
        if (cluster !== undefined) await cluster.stop();
        else await system.stop();
        unsubscribe();
        // No device is left to ack a deferred append: write them, and any the terminating sessions make, at once.
        stores.inbox.early?.stopDeferring();
        // The last receipts, inbox deletes and last-seen writes of terminating sessions reach the stores before they close.
        await new Promise((resolve) => setImmediate(resolve));
        const bound = new Promise<'timeout'>((resolve) => setTimeout(resolve, FINAL_WRITES_MS, 'timeout').unref());
        if ((await Promise.race([Promise.allSettled([...finalWrites]), bound])) === 'timeout') {
          log.warn({ event: 'node.final_writes_timeout', pending: finalWrites.size, boundMs: FINAL_WRITES_MS }, 'closing the stores with session writes still pending');
        }
        await stores.close();
        if (forwarding) log.info({ event: 'session.forward_stats', ...forwardStats() }, 'forwards since start');
      },
    };
  } catch (err) {
    unsubscribe();
    if (cluster !== undefined) await cluster.stop();
    else await system.stop();
    await stores.close();
    throw err;
  }
}

/**
 * Composition root of one Parley node: opens the stores, starts the gateway
 * and the operator HTTP endpoint, and shuts all of it down in reverse order.
 *
 * Shutdown order (graceful): mark not ready → stop accepting and close client
 * sockets with 1001 → close stores (flushes the embedded database) → close
 * the HTTP endpoint. Each step is bounded by `shutdownTimeoutMs`.
 */
import type { AddressInfo } from 'node:net';
import type { NodeConfig } from './config.ts';
import type { Logger } from './log.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { startHttpEndpoint, type HttpEndpoint } from './http-endpoint.ts';
import { startChatNode, type ChatNode, type ChatNodeOptions } from './chat-node.ts';

/** Something the node opened and must close on shutdown. */
export interface NodeResource {
  readonly name: string;
  close(): Promise<void>;
}

/** A running node. */
export interface RunningNode {
  readonly config: NodeConfig;
  readonly httpAddress: AddressInfo;
  readonly gatewayAddress: AddressInfo;
  /** The chat processes and services (tests and ops inspect them). */
  readonly chat: ChatNode;
  /** Resolves when the node has stopped, with the reason given to `stop`. */
  readonly stopped: Promise<string>;
  stop(reason: string): Promise<void>;
}

type Phase = 'starting' | 'ready' | 'stopping' | 'stopped';

/** Starts a node with `config`; resolves once it accepts clients. */
export async function startNode(config: NodeConfig, log: Logger, options: ChatNodeOptions = {}): Promise<RunningNode> {
  let phase: Phase = 'starting';
  const resources: NodeResource[] = [];
  const chat: ChatNode = await startChatNode(config, log, options);
  resources.push({ name: 'chat', close: () => chat.stop() });
  const http: HttpEndpoint = await startHttpEndpoint(config.host, config.httpPort, {
    nodeId: config.nodeId,
    notReadyReason: () => (phase === 'ready' ? null : phase),
  });
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      host: config.host,
      port: config.gatewayPort,
      maxPayloadBytes: chat.services.limits.maxFrameBytes,
      onConnection: (socket, request) => chat.acceptSocket(socket, request),
    });
  } catch (err) {
    await http.close();
    await chat.stop();
    throw err;
  }
  phase = 'ready';
  let resolveStopped!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => { resolveStopped = resolve; });
  let stopping: Promise<void> | undefined;

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      phase = 'stopping';
      log.info({ event: 'node.stopping', reason, connections: gateway.connectionCount() }, 'node stopping');
      await gateway.close('server shutting down', config.shutdownTimeoutMs);
      for (const resource of [...resources].reverse()) {
        try {
          await resource.close();
        } catch (err) {
          log.error({ event: 'node.resource_close_failed', resource: resource.name, err }, 'resource close failed');
        }
      }
      await http.close();
      phase = 'stopped';
      log.info({ event: 'node.stopped', reason }, 'node stopped');
      resolveStopped(reason);
    })();
    return stopping;
  };

  return { config, httpAddress: http.address, gatewayAddress: gateway.address, chat, stopped, stop };
}

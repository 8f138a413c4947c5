/**
 * Production transport: one NATS connection per node. NATS keeps the order of
 * one connection's messages on one subject, which gives Erlang's per-pair order
 * (each node listens on one subject). The connection reconnects forever; while
 * it is away nats.js buffers publishes (`reconnectBufSize`), and the node's own
 * heartbeats stop echoing, so membership fences it (see membership.ts).
 */
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import type { MessageHandler, Transport } from './transport.ts';

/** Defaults of `connectNats`: reconnect forever, quickly. */
export const DEFAULT_NATS_OPTIONS = {
  /** @default -1 (forever) */
  maxReconnectAttempts: -1,
  /** @default 250 */
  reconnectTimeWait: 250,
  /** @default 100 */
  reconnectJitter: 100,
  /** @default 2000 */
  pingInterval: 2_000,
  /** @default 3 */
  maxPingOut: 3,
  /** @default true: a server that is down at start is waited for. */
  waitOnFirstConnect: true,
} as const;

/** Opens the node's NATS connection, named after the node. */
export function connectNats(servers: string | string[], node: string, options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({ ...DEFAULT_NATS_OPTIONS, servers, name: `parley-${node}`, ...options });
}

/** `Transport` over one NATS connection. */
export class NatsTransport implements Transport {
  constructor(readonly nc: NatsConnection) {}

  publish(subject: string, data: Uint8Array): void {
    // A publish on a closed connection throws; a down node is membership's business, not the sender's.
    if (!this.nc.isClosed()) this.nc.publish(subject, data);
  }

  subscribe(subject: string, onMessage: MessageHandler): () => void {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) onMessage(msg.data);
      },
    });
    return () => sub.unsubscribe();
  }

  flush(): Promise<void> {
    return this.nc.isClosed() ? Promise.resolve() : this.nc.flush();
  }
}

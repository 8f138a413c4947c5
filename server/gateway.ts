/**
 * The WebSocket gateway: accepts client sockets and hands each one to a
 * connection handler. On shutdown it stops accepting, then closes every
 * socket with 1001 (going away) and waits for them, terminating stragglers
 * after the deadline.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** Close code 1001 (RFC 6455): the endpoint is going away. */
export const CLOSE_GOING_AWAY = 1001;

/** Called for every accepted socket. */
export type ConnectionHandler = (socket: WebSocket, request: http.IncomingMessage) => void;

/** Options of the gateway listener. */
export interface GatewayOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Largest WebSocket message accepted, in bytes; larger ones close the socket with 1009. @default 1048576 */
  readonly maxPayloadBytes?: number;
  readonly onConnection: ConnectionHandler;
  /** Pending-connection queue length (capped by net.core.somaxconn). @default 4096 */
  readonly backlog?: number;
}

/** A listening gateway. */
export interface Gateway {
  readonly address: AddressInfo;
  /** Number of open client sockets. */
  connectionCount(): number;
  /** Stops accepting, closes all sockets with 1001 and `reason`, resolves when all are closed. */
  close(reason: string, deadlineMs: number): Promise<void>;
}

/** Starts the gateway listener. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('WebSocket upgrade required\n');
  });
  const wss = new WebSocketServer({ server, maxPayload: options.maxPayloadBytes ?? 1_048_576, clientTracking: true });
  wss.on('connection', (socket, request) => options.onConnection(socket, request));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: during a reconnect storm or a ramp, clients arrive in
    // bursts faster than one busy event loop accepts them; Node's default (511)
    // overflowed at ~200k connections here (SYN retries, then auth timeouts).
    // The kernel caps it at net.core.somaxconn.
    server.listen({ port: options.port, host: options.host, backlog: options.backlog ?? 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    connectionCount: () => wss.clients.size,
    close: async (reason, deadlineMs) => {
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      const sockets = [...wss.clients];
      const closed = sockets.map((s) => new Promise<void>((resolve) => {
        if (s.readyState === s.CLOSED) return resolve();
        s.once('close', () => resolve());
      }));
      for (const s of sockets) s.close(CLOSE_GOING_AWAY, reason);
      const timer = setTimeout(() => { for (const s of sockets) s.terminate(); }, deadlineMs);
      await Promise.all(closed);
      clearTimeout(timer);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await serverClosed;
    },
  };
}

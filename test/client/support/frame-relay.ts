/**
 * A WebSocket relay between SDK clients and a real node: it records every
 * frame the node receives (decoded, per connection) and lets a test decide
 * the fate of each frame the node sends back: forward it, answer the client
 * with another frame instead, or cut both sockets (a connection lost just as
 * the answer was on its way).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeFrame, encodeFrame, type ClientFrame, type ServerFrame } from '../../../protocol/index.ts';

/** A client frame as the node received it; `connection` counts from 1 per relayed socket. */
export interface RelayedFrame {
  readonly connection: number;
  readonly frame: ClientFrame;
}

/** What to do with a frame the node sent: pass it on, replace it, or cut the connection instead. */
export type ServerFrameFate = 'forward' | 'cut' | { readonly replaceWith: ServerFrame };

export class FrameRelay {
  /** Every client frame forwarded to the node, in order. */
  readonly received: RelayedFrame[] = [];
  /** Decides each server frame's fate; forwards everything unless a test sets it. */
  onServerFrame: (frame: ServerFrame) => ServerFrameFate = () => 'forward';
  private server: WebSocketServer | undefined;
  private connections = 0;
  private readonly sockets = new Set<WebSocket>();

  constructor(private readonly target: string) {}

  /** Listens on a free local port; resolves with the URL clients connect to. */
  async start(): Promise<string> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    this.server = server;
    await once(server, 'listening');
    server.on('connection', (client) => this.relay(client));
    return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private relay(client: WebSocket): void {
    const connection = ++this.connections;
    const upstream = new WebSocket(this.target, { perMessageDeflate: false });
    this.sockets.add(client).add(upstream);
    const early: Buffer[] = [];
    const cut = (): void => {
      client.terminate();
      upstream.terminate();
    };
    client.on('message', (data: Buffer) => {
      const decoded = decodeFrame(data);
      if (decoded.ok) this.received.push({ connection, frame: decoded.frame as ClientFrame });
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
      else early.push(data);
    });
    upstream.on('open', () => {
      for (const data of early.splice(0)) upstream.send(data);
    });
    upstream.on('message', (data: Buffer) => {
      const decoded = decodeFrame(data);
      const fate = decoded.ok ? this.onServerFrame(decoded.frame as ServerFrame) : 'forward';
      if (fate === 'cut') return cut();
      if (client.readyState !== WebSocket.OPEN) return;
      client.send(fate === 'forward' ? data : encodeFrame(fate.replaceWith));
    });
    // either side gone: the other goes too, as when the network path between them dies
    client.on('close', () => upstream.terminate());
    upstream.on('close', () => client.terminate());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', () => this.sockets.delete(client));
    upstream.on('close', () => this.sockets.delete(upstream));
  }
}

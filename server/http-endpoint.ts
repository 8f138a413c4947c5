/**
 * The node's HTTP endpoint for operators: `GET /healthz` (the process is
 * alive and its event loop turns) and `GET /readyz` (the node accepts
 * clients: stores open, gateway listening, not shutting down).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the endpoint asks the node. */
export interface HealthSource {
  readonly nodeId: string;
  /** Null when ready; otherwise why not (e.g. 'starting', 'shutting down'). */
  notReadyReason(): string | null;
}

/** A listening HTTP endpoint. */
export interface HttpEndpoint {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Starts the endpoint on host:port (0 = any free port). */
export async function startHttpEndpoint(host: string, port: number, health: HealthSource): Promise<HttpEndpoint> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return reply(res, 405, { error: 'method not allowed' });
    }
    if (url === '/healthz') return reply(res, 200, { status: 'ok', node: health.nodeId });
    if (url === '/readyz') {
      const reason = health.notReadyReason();
      return reason === null
        ? reply(res, 200, { status: 'ready', node: health.nodeId })
        : reply(res, 503, { status: 'not ready', reason, node: health.nodeId });
    }
    reply(res, 404, { error: 'not found' });
  });
  // Health probes are short: do not let a keep-alive probe hold shutdown.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

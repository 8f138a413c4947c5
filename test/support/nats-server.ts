/**
 * A `nats-server` a test owns (so it may stop and restart it): JetStream on,
 * a free port on 127.0.0.1 and a temporary store directory. `stop` ends the
 * process (the port and the store stay, so `start` brings the same server
 * back: same URL, same JetStream state); `close` stops it and removes the
 * directory, for the test's `finally`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Where the binary is on the test machines. */
export const NATS_SERVER_BIN = '/usr/sbin/nats-server';

/** How long a start may take before it counts as failed. @default 15000 */
const READY_TIMEOUT_MS = 15_000;
/** How long a SIGTERM may take before SIGKILL. @default 10000 */
const STOP_TIMEOUT_MS = 10_000;

export interface TestNatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** Everything the server wrote to stderr, over all its runs (for failure reports). */
  output(): string;
  /** SIGTERM; resolves once the process is gone. A no-op when it is not running. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same store directory; resolves once it is ready. */
  start(): Promise<void>;
  /** Stops it and removes the store directory. */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free now: the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a JetStream-enabled nats-server on a free port with a fresh store directory. */
export async function startNatsServer(): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(path.join(tmpdir(), 'parley-nats-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('nats-server is already running');
    const p = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = p;
    exited = new Promise<void>((resolve) => p.once('exit', () => {
      if (child === p) child = undefined;
      resolve();
    }));
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms:\n${out}`)), READY_TIMEOUT_MS);
        p.stderr!.on('data', (d: Buffer) => {
          out += d.toString();
          log += d.toString();
          if (out.includes('Server is ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        p.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`nats-server exited ${code} before it was ready:\n${out}`));
        });
      });
    } catch (err) {
      p.kill('SIGKILL');
      await exited;
      throw err;
    }
  };

  const stop = async (): Promise<void> => {
    const p = child;
    if (p === undefined) return;
    p.kill('SIGTERM');
    // Bounded: a server that does not shut down within STOP_TIMEOUT_MS is killed.
    const timer = setTimeout(() => p.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get running() {
      return child !== undefined;
    },
    output: () => log,
    stop,
    start,
    async close() {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

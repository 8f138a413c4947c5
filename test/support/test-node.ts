/**
 * A real node for end-to-end tests: in this process (startTestNode) or as a
 * child process (spawnNodeProcess, for kill -9), on free ports with its own
 * data folder, removed by `stop`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type ConfigFlags } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { startNode, type RunningNode } from '../../server/node.ts';
import type { ChatNodeOptions } from '../../server/chat-node.ts';
import { ParleyClient, libsignalIdentity, type ClientOptions, type DeviceCredentials } from '../../client/index.ts';

/** Clients made by the helpers below; a node's `stop` closes them, so a failing test never leaves one reconnecting. */
const openClients = new Set<ParleyClient>();

/** Closes every client the helpers made. */
export async function closeAllClients(): Promise<void> {
  const all = [...openClients];
  openClients.clear();
  await Promise.all(all.map((c) => c.close().catch(() => undefined)));
}

/** A node in this process, and what the test needs of it. */
export interface TestNode {
  readonly node: RunningNode;
  readonly url: string;
  readonly dataDir: string;
  /** Every log line the node wrote (JSON). */
  readonly logs: string[];
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export async function startTestNode(options: ChatNodeOptions & { dataDir?: string; config?: ConfigFlags } = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'parley-e2e-'));
  const logs: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  const config = loadConfig({ httpPort: 0, gatewayPort: 0, dataDir, logLevel: 'debug', ...options.config }, {});
  const node = await startNode(config, createLogger('debug', { node: config.nodeId }, sink), options);
  return {
    node,
    url: `ws://127.0.0.1:${node.gatewayAddress.port}`,
    dataDir,
    logs,
    async stop({ keepData = false } = {}) {
      await closeAllClients();
      await node.stop('test done');
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A node as a separate process (`parley start`), for crash tests. */
export interface NodeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exit: Promise<number | null>;
  output(): string;
  /** Resolves once the node's output (stdout + stderr so far) passes `test`; rejects if it exits first. */
  waitForOutput(test: (output: string) => boolean): Promise<void>;
}

/**
 * The environment of a node process on the embedded default: the test runner
 * exports the services' URLs (PARLEY_PG_URL, …, PARLEY_NATS_URL) for the tests
 * that want them; a node inheriting them would use them (and, with NATS, join
 * a cluster named after the default, leaving its registry bucket behind).
 */
export function embeddedNodeEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PARLEY_PG_URL: '', PARLEY_CASSANDRA_CONTACT_POINTS: '', PARLEY_REDIS_URL: '', PARLEY_NATS_URL: '', ...env };
}

/**
 * Starts a node process: from source through tsx, or with `compiled` the
 * build in dist/ that `npm start` runs (benches; the caller builds it first,
 * bench/lib/build.ts).
 */
export async function spawnNodeProcess(dataDir: string, gatewayPort = 0, env: NodeJS.ProcessEnv = {}, extraArgs: readonly string[] = [], compiled = false): Promise<NodeProcess> {
  const entry = compiled ? ['dist/server/cli.js'] : ['--import', 'tsx', 'server/cli.ts'];
  const child = spawn(process.execPath, [...entry, 'start', '--http-port', '0', '--gateway-port', String(gatewayPort), '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: embeddedNodeEnv(env),
  });
  let out = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /gateway (ws:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then((code) => reject(new Error(`node exited with ${code} before listening:\n${out}`)));
  });
  return {
    child, url, exit, output: () => out,
    waitForOutput(test) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!test(out)) return;
          child.stdout!.off('data', onData);
          child.stderr!.off('data', onData);
          resolve();
        };
        // `out` is appended by the first listener, registered before this one.
        const onData = () => check();
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        void exit.then((code) => reject(new Error(`node exited with ${code} while a test waited for its output:\n${out.slice(-4000)}`)));
        check();
      });
    },
  };
}

/** Registers a new account with a fresh libsignal identity. */
export async function registerClient(url: string | readonly string[], extra: Partial<ClientOptions> = {}): Promise<{ client: ParleyClient; identity: ReturnType<typeof libsignalIdentity>; registrationId: number; credentials: DeviceCredentials }> {
  const identity = libsignalIdentity();
  const registrationId = 1 + Math.floor(Math.random() * 16000);
  const client = await ParleyClient.register({ url, identity, registrationId, backoff: TEST_BACKOFF, ...extra });
  openClients.add(client);
  return { client, identity, registrationId, credentials: client.device };
}

/** Fast reconnects for tests. */
export const TEST_BACKOFF = { initialMs: 20, maxMs: 200, factor: 2 };

/** Logs an existing device in (tracked like registerClient's). */
export async function loginClient(url: string | readonly string[], identity: ClientOptions['identity'], registrationId: number, credentials: DeviceCredentials, extra: Partial<ClientOptions> = {}): Promise<ParleyClient> {
  const client = await ParleyClient.login({ url, identity, registrationId, backoff: TEST_BACKOFF, ...extra }, credentials);
  openClients.add(client);
  return client;
}

/** Collects `n` items from an async iterable. */
export async function take<T>(iterable: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const item of iterable) {
    out.push(item);
    if (out.length >= n) break;
  }
  return out;
}

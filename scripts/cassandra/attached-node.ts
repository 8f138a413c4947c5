/**
 * Cassandra nodes started as children of this process, for tests.
 *
 * Contract:
 * - `ensureCassandra()` reuses whatever already answers CQL on the configured
 *   host:port (handle.startedHere = false, stop() does nothing); otherwise it
 *   fetches the jars if needed, starts a node with data in a fresh temp folder and
 *   resolves once `SELECT release_version FROM system.local` answers. If the JVM
 *   exits first, or CQL does not answer in time, it rejects with the last
 *   LOG_TAIL_LINES lines of the node's output.
 * - A node started here never outlives this process: stop() sends SIGTERM, waits
 *   STOP_GRACE_MS, then SIGKILLs, then deletes the data folder. SIGINT/SIGTERM/SIGHUP
 *   stop it too (then the signal's default action runs, unless someone else handles
 *   it), process exit SIGKILLs it, and supervise.sh stops it when this process dies
 *   without running any handler.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cqlVersionIfUp, waitForCql } from './cql-probe.ts';
import { fetchCassandraJars } from './fetch.ts';
import { cassandraJvmArgs, checkJava, prepareRunDir } from './jvm.ts';
import { cassandraSettings, type CassandraSettings } from './settings.ts';
import {
  DEFAULT_START_TIMEOUT_MS,
  LOG_TAIL_LINES,
  STOP_GRACE_MS,
  seconds,
  signalQuietly,
  sleep,
  supervisorArgs,
} from './supervisor.ts';

export interface CassandraHandle {
  /** `host:port` for cassandra-driver's contactPoints. */
  readonly contactPoint: string;
  /** false when an already running node was reused; stop() then does nothing. */
  readonly startedHere: boolean;
  stop(): Promise<void>;
}

export interface EnsureCassandraOptions {
  /** Progress lines of this harness (fetch, start, ready, stop). Default: dropped. */
  log?: (line: string) => void;
  /** Every line the JVM prints. Default: dropped (the last lines still go into errors). */
  output?: (line: string) => void;
  /** How long to wait for CQL once the JVM runs. Default DEFAULT_START_TIMEOUT_MS (180 s). */
  startTimeoutMs?: number;
}

const noop = (): void => {};

/** Keeps the last `max` lines of a byte stream, handing each complete line to `onLine`. */
class LineTail {
  private readonly lines: string[] = [];
  private pending = '';
  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
  ) {}
  push(chunk: Buffer): void {
    const parts = (this.pending + chunk.toString('utf8')).split('\n');
    this.pending = parts.pop() ?? '';
    for (const line of parts) this.add(line);
  }
  flush(): void {
    if (this.pending !== '') this.add(this.pending);
    this.pending = '';
  }
  text(): string {
    return [...this.lines, ...(this.pending === '' ? [] : [this.pending])].join('\n');
  }
  private add(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.shift();
    this.onLine(line);
  }
}

interface AttachedNode {
  readonly child: ChildProcess;
  readonly runDir: string;
}

const attached = new Set<AttachedNode>();
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killGroup(node: AttachedNode, signal: NodeJS.Signals): void {
  if (node.child.pid !== undefined) signalQuietly(-node.child.pid, signal);
}

/** Last resort on process exit: no time for a graceful stop, only synchronous calls work here. */
function killAllOnExit(): void {
  for (const node of attached) {
    killGroup(node, 'SIGKILL');
    rmSync(node.runDir, { recursive: true, force: true, maxRetries: 3 });
  }
  attached.clear();
}

const stoppers = new Map<AttachedNode, () => Promise<void>>();

function onSignal(signal: NodeJS.Signals): void {
  const stops = [...stoppers.values()].map((stop) => stop());
  void Promise.allSettled(stops).then(() => {
    // If nobody else handles this signal, die of it as the default action would.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
  uninstallProcessHooks();
}

function installProcessHooks(): void {
  if (attached.size !== 1) return; // installed with the first node only
  process.on('exit', killAllOnExit);
  for (const s of HANDLED_SIGNALS) process.on(s, onSignal);
}

function uninstallProcessHooks(): void {
  for (const s of HANDLED_SIGNALS) process.off(s, onSignal);
}

async function startAttached(
  settings: CassandraSettings,
  libDir: string,
  opts: EnsureCassandraOptions,
): Promise<CassandraHandle> {
  const log = opts.log ?? noop;
  const runDir = await prepareRunDir(settings);
  const args = await cassandraJvmArgs(settings, libDir, runDir);
  const started = Date.now();
  // stdin stays an open pipe that nobody writes: its EOF tells supervise.sh that we died.
  const child = spawn('/bin/sh', supervisorArgs(runDir, true, settings.java, args), {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const node: AttachedNode = { child, runDir };
  attached.add(node);
  installProcessHooks();

  const tail = new LineTail(LOG_TAIL_LINES, opts.output ?? noop);
  child.stdout?.on('data', (b: Buffer) => tail.push(b));
  child.stderr?.on('data', (b: Buffer) => tail.push(b));
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      exitReason ??= `could not start the JVM: ${err.message}`;
      resolve();
    });
    child.on('exit', (code, signal) => {
      exitReason ??= `the Cassandra JVM exited (${signal ?? `code ${code}`})`;
      resolve();
    });
  });
  void exited.then(() => {
    // Normally the group is empty by now; if the supervisor itself was killed, this reaps its JVM.
    killGroup(node, 'SIGKILL');
    tail.flush();
    attached.delete(node);
    stoppers.delete(node);
    if (attached.size === 0) {
      process.off('exit', killAllOnExit);
      uninstallProcessHooks();
    }
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitReason === undefined && child.pid !== undefined) {
        log(`stopping Cassandra (pid ${child.pid})`);
        const t = Date.now();
        // supervise.sh turns this into SIGTERM for the JVM, whose shutdown hook drains it.
        child.kill('SIGTERM');
        const graceful = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
        if (!graceful) {
          log(`Cassandra still running after ${STOP_GRACE_MS} ms; sending SIGKILL`);
          killGroup(node, 'SIGKILL');
          await exited;
        }
        log(`Cassandra stopped in ${seconds(Date.now() - t)} s`);
      }
      await exited;
      await rm(runDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  stoppers.set(node, stop);

  log(`starting Cassandra ${settings.version} (heap ${settings.heap}, data in ${runDir})`);
  try {
    const version = await waitForCql(settings, {
      timeoutMs: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      abortReason: () => exitReason,
    });
    log(`Cassandra ${version} answers CQL on ${settings.contactPoint} after ${seconds(Date.now() - started)} s`);
  } catch (err) {
    await stop();
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`${why}\n--- last ${LOG_TAIL_LINES} lines of the Cassandra log ---\n${tail.text()}`);
  }
  return { contactPoint: settings.contactPoint, startedHere: true, stop };
}

/**
 * Returns a node answering CQL on the configured host:port, starting one (and
 * fetching its jars) if none answers.
 */
export async function ensureCassandra(opts: EnsureCassandraOptions = {}): Promise<CassandraHandle> {
  const settings = cassandraSettings();
  const log = opts.log ?? noop;
  const running = await cqlVersionIfUp(settings);
  if (running !== undefined) {
    log(`reusing Cassandra ${running} already answering on ${settings.contactPoint}`);
    return { contactPoint: settings.contactPoint, startedHere: false, stop: async () => {} };
  }
  await checkJava(settings.java);
  const { libDir } = await fetchCassandraJars({ log });
  return startAttached(settings, libDir, opts);
}

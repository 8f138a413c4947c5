/**
 * A Cassandra node that outlives the command that started it (`start --detach`),
 * for fast local reruns. It is found again through the pid file in
 * .cache/cassandra/run/; its output goes to cassandra.log beside it.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cqlVersionIfUp, waitForCql } from './cql-probe.ts';
import { fetchCassandraJars } from './fetch.ts';
import { cassandraJvmArgs, checkJava, prepareRunDir } from './jvm.ts';
import { DETACHED_DIR, cassandraSettings } from './settings.ts';
import {
  DEFAULT_START_TIMEOUT_MS,
  LOG_TAIL_LINES,
  STOP_GRACE_MS,
  SUPERVISOR,
  cmdline,
  nodeGroupAlive,
  seconds,
  signalQuietly,
  sleep,
  supervisorArgs,
} from './supervisor.ts';

const PID_FILE = path.join(DETACHED_DIR, 'cassandra.pid');
const STATE_FILE = path.join(DETACHED_DIR, 'cassandra.json');
const DETACHED_LOG = path.join(DETACHED_DIR, 'cassandra.log');

const noop = (): void => {};

interface DetachedState {
  readonly pid: number;
  readonly runDir: string;
  readonly contactPoint: string;
  readonly version: string;
  readonly logFile: string;
  readonly startedAt: string;
}

export async function readDetachedState(): Promise<DetachedState | undefined> {
  try {
    return JSON.parse(await readFile(STATE_FILE, 'utf8')) as DetachedState;
  } catch {
    return undefined;
  }
}

async function lastLines(file: string, n: number): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-n - 1).join('\n');
}

export type DetachedStart =
  | { readonly kind: 'started'; readonly pid: number; readonly version: string; readonly logFile: string }
  | { readonly kind: 'already-running'; readonly version: string };

export async function startDetached(opts: { log?: (line: string) => void; startTimeoutMs?: number } = {}): Promise<DetachedStart> {
  const settings = cassandraSettings();
  const log = opts.log ?? noop;
  const running = await cqlVersionIfUp(settings);
  if (running !== undefined) return { kind: 'already-running', version: running };
  await checkJava(settings.java);
  const { libDir } = await fetchCassandraJars({ log });
  const runDir = await prepareRunDir(settings);
  const args = await cassandraJvmArgs(settings, libDir, runDir);
  await mkdir(DETACHED_DIR, { recursive: true });
  const out = openSync(DETACHED_LOG, 'w');
  const started = Date.now();
  const child = spawn('/bin/sh', supervisorArgs(runDir, false, settings.java, args), {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn /bin/sh for the Cassandra supervisor');
  child.unref();
  const state: DetachedState = {
    pid,
    runDir,
    contactPoint: settings.contactPoint,
    version: settings.version,
    logFile: DETACHED_LOG,
    startedAt: new Date().toISOString(),
  };
  await writeFile(PID_FILE, `${pid}\n`);
  await writeFile(STATE_FILE, JSON.stringify(state, null, 2) + '\n');
  log(`starting detached Cassandra ${settings.version} (pid ${pid}, heap ${settings.heap}, log ${DETACHED_LOG})`);
  try {
    const version = await waitForCql(settings, {
      timeoutMs: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      abortReason: () => (nodeGroupAlive(pid) ? undefined : 'the detached Cassandra JVM exited'),
    });
    log(`Cassandra ${version} answers CQL on ${settings.contactPoint} after ${seconds(Date.now() - started)} s`);
    return { kind: 'started', pid, version, logFile: DETACHED_LOG };
  } catch (err) {
    await stopDetached({ log });
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`${why}\n--- last ${LOG_TAIL_LINES} lines of ${DETACHED_LOG} ---\n${await lastLines(DETACHED_LOG, LOG_TAIL_LINES)}`);
  }
}

/** Stops the node recorded in the pid file; false when there was none running. */
export async function stopDetached(opts: { log?: (line: string) => void } = {}): Promise<boolean> {
  const log = opts.log ?? noop;
  const state = await readDetachedState();
  if (state === undefined) return false;
  const pgid = state.pid; // the supervisor was spawned detached, so it leads its own group
  const running = nodeGroupAlive(pgid);
  if (running) {
    log(`stopping detached Cassandra (pid ${state.pid})`);
    const t = Date.now();
    // The supervisor passes SIGTERM on to the JVM; without it, signal the JVM's group directly.
    signalQuietly(cmdline(pgid).includes(SUPERVISOR) ? pgid : -pgid, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (nodeGroupAlive(pgid) && Date.now() < deadline) await sleep(100);
    if (nodeGroupAlive(pgid)) {
      log(`Cassandra still running after ${STOP_GRACE_MS} ms; sending SIGKILL`);
      signalQuietly(-pgid, 'SIGKILL');
      while (nodeGroupAlive(pgid)) await sleep(50);
    }
    log(`Cassandra stopped in ${seconds(Date.now() - t)} s`);
  }
  await rm(state.runDir, { recursive: true, force: true });
  await rm(PID_FILE, { force: true });
  await rm(STATE_FILE, { force: true });
  return running;
}

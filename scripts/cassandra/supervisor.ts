/**
 * The contract with supervise.sh, the POSIX sh parent of every Cassandra JVM we start:
 *
 *   sh supervise.sh RUN_DIR WATCH_STDIN JAVA ARGS...
 *
 * - SIGTERM to the supervisor = graceful stop of the JVM; the supervisor exits with the
 *   JVM's status after deleting RUN_DIR.
 * - WATCH_STDIN=1: EOF on the supervisor's stdin also stops the JVM (our death, however
 *   it happens, closes that pipe).
 * - The supervisor is spawned `detached`, so it leads a process group holding the JVM:
 *   `kill(-pgid, SIGKILL)` ends the whole node, even if the supervisor itself is gone.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { TEMPLATE_DIR } from './settings.ts';

export const SUPERVISOR = path.join(TEMPLATE_DIR, 'supervise.sh');
export const DEFAULT_START_TIMEOUT_MS = 180_000;
/** How long a graceful stop may take before SIGKILL (measured: 1-4 s). */
export const STOP_GRACE_MS = 10_000;
/** Lines of the node's log quoted in a start failure. */
export const LOG_TAIL_LINES = 100;
const DAEMON_CLASS = 'org.apache.cassandra.service.CassandraDaemon';

export function supervisorArgs(runDir: string, watchStdin: boolean, java: string, jvmArgs: readonly string[]): string[] {
  return [SUPERVISOR, runDir, watchStdin ? '1' : '0', java, ...jvmArgs];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const seconds = (ms: number): string => (ms / 1000).toFixed(1);

export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

export function cmdline(pid: string | number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Whether any process of the node's group (supervisor or JVM) still lives. The group
 * outlives its leader: if the supervisor was killed, its JVM is still there. Members are
 * checked by command line, so a reused pid is never taken for ours.
 */
export function nodeGroupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (pgrp !== pgid) continue;
    const cmd = cmdline(entry);
    if (cmd.includes(SUPERVISOR) || cmd.includes(DAEMON_CLASS)) return true;
  }
  return false;
}

/**
 * Every process a bench run starts, in its own process group, so that one
 * `kill(-pid)` takes its children too. `stopAll` ends them gracefully
 * (SIGTERM, then SIGKILL after a grace period); `killAllNow` is the
 * synchronous last resort used on `exit`. Nothing started here outlives the run.
 */
import { fork, spawn, type ChildProcess, type ForkOptions, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Spawns `command` in a new process group. */
export function spawnGroup(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  return track(spawn(command, args, { ...options, detached: true }));
}

/** Forks a Node module in a new process group, with an IPC channel. */
export function forkGroup(module: string, args: readonly string[], options: ForkOptions): ChildProcess {
  return track(fork(module, args, { ...options, detached: true }));
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Stops `child` (and its group): SIGTERM, SIGKILL after `graceMs`; resolves when it exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (exited(child)) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
  // Anything left in its group (a grandchild) goes too.
  signalGroup(child, 'SIGKILL');
}

/** Stops every live child. */
export async function stopAll(graceMs: number): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, graceMs)));
}

/** SIGKILLs every live child's group at once (synchronous: safe in an `exit` handler). */
export function killAllNow(): void {
  for (const c of live) {
    if (c.pid === undefined) continue;
    try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** Number of children still running. */
export function liveChildren(): number {
  return live.size;
}

/**
 * Child specifications (OTP `child_spec()`), their defaults and validation, and
 * how a supervisor shuts one child down (OTP `shutdown/2`).
 */
import type { ActorContext, Behaviour } from './behaviour.ts';
import type { Cell } from './cell.ts';
import type { StartResult } from './runtime-messages.ts';
import { ActorError } from './errors.ts';
import { startProcess } from './gen-server.ts';
import { lookupCell } from './system.ts';
import type { ExitReason, Protocol, Ref } from './types.ts';

/** `permanent`: always restarted; `transient`: only after an abnormal exit; `temporary`: never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** How long a child may take to terminate: `brutal_kill` (no `terminate`), ms, or `infinity`. */
export type Shutdown = 'brutal_kill' | number | 'infinity';

/** A worker or a supervisor (affects only the `shutdown` default and `countChildren`). */
export type ChildType = 'worker' | 'supervisor';

/**
 * Starts the child linked to `parent` (the supervisor), like OTP's `{M, F, A}`:
 * use `startLink(parent, …)` or the builders `worker`/`supervisorChild`.
 */
export type StartFn = (parent: ActorContext) => StartResult | Promise<StartResult>;

/** A child specification. */
export interface ChildSpec {
  /** Unique within a static supervisor; informational in a dynamic one. */
  readonly id: string;
  readonly start: StartFn;
  /** @default 'permanent' */
  readonly restart?: RestartType;
  /** @default 5000 for a worker, 'infinity' for a supervisor */
  readonly shutdown?: Shutdown;
  /** @default 'worker' */
  readonly type?: ChildType;
}

/** A child spec with every default filled in. */
export interface FullChildSpec {
  readonly id: string;
  readonly start: StartFn;
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly type: ChildType;
}

/** Defaults of `ChildSpec`, as OTP's. */
export const DEFAULT_CHILD_SPEC = {
  restart: 'permanent',
  workerShutdownMs: 5_000,
  supervisorShutdown: 'infinity',
  type: 'worker',
} as const;

function validRestart(r: unknown): RestartType {
  if (r === 'permanent' || r === 'transient' || r === 'temporary') return r;
  throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid restart type ${String(r)}`);
}
function validShutdown(s: unknown): Shutdown {
  if (s === 'brutal_kill' || s === 'infinity') return s;
  if (typeof s === 'number' && Number.isInteger(s) && s >= 0) return s;
  throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid shutdown ${String(s)}`);
}
function validType(t: unknown): ChildType {
  if (t === 'worker' || t === 'supervisor') return t;
  throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid child type ${String(t)}`);
}

/** Fills in defaults; throws `PARLEY_ERR_BAD_SPEC` on an invalid field. */
export function fullChildSpec(spec: ChildSpec): FullChildSpec {
  if (typeof spec.id !== 'string') throw new ActorError('PARLEY_ERR_BAD_SPEC', 'child id must be a string');
  if (typeof spec.start !== 'function') throw new ActorError('PARLEY_ERR_BAD_SPEC', `child ${spec.id}: start must be a function`);
  const type = validType(spec.type ?? DEFAULT_CHILD_SPEC.type);
  return {
    id: spec.id,
    start: spec.start,
    restart: validRestart(spec.restart ?? DEFAULT_CHILD_SPEC.restart),
    shutdown: validShutdown(spec.shutdown ?? (type === 'supervisor' ? DEFAULT_CHILD_SPEC.supervisorShutdown : DEFAULT_CHILD_SPEC.workerShutdownMs)),
    type,
  };
}

/** Options of `worker`. */
export interface WorkerOptions {
  /** @default 'permanent' */
  restart?: RestartType;
  /** @default 5000 */
  shutdown?: Shutdown;
  /** Registered name of the process. @default undefined */
  name?: string;
}

/** A worker child spec that starts `behaviour` with `args`, linked to the supervisor. */
export function worker<S, A, P extends Protocol>(id: string, behaviour: Behaviour<S, A, P>, args: A, options: WorkerOptions = {}): ChildSpec {
  const b = behaviour as unknown as Behaviour<unknown, unknown>;
  return {
    id,
    start: (parent) => startProcess(parent, b, args, true, options.name),
    type: 'worker',
    ...(options.restart === undefined ? {} : { restart: options.restart }),
    ...(options.shutdown === undefined ? {} : { shutdown: options.shutdown }),
  };
}

/**
 * Shuts a child down the OTP way: unlink (so no EXIT reaches the supervisor),
 * send `shutdown` (or `kill` for `brutal_kill`), wait for its DOWN, and `kill` it
 * when the timeout passes. Resolves with the reason it actually exited with.
 */
export function shutdownChild(sup: Cell, ref: Ref, shutdown: Shutdown): Promise<ExitReason> {
  const child = lookupCell(ref);
  if (child === undefined) return Promise.resolve('noproc');
  sup.removeLink(child);
  child.removeLink(sup);
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    child.onDown((reason) => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(reason);
    });
    if (shutdown === 'brutal_kill') {
      child.exitSignal(sup.self, 'kill');
      return;
    }
    child.exitSignal(sup.self, 'shutdown');
    if (!done && shutdown !== 'infinity') timer = setTimeout(() => child.exitSignal(sup.self, 'kill'), shutdown);
  });
}

/** Whether the exit reason seen at shutdown is the expected one (else a `shutdown_error` report). */
export function cleanShutdown(shutdown: Shutdown, reason: ExitReason): boolean {
  if (shutdown === 'brutal_kill') return reason === 'killed';
  return reason === 'shutdown' || reason === 'noproc';
}

/**
 * The dynamic supervisor (OTP `simple_one_for_one`, Elixir `DynamicSupervisor`):
 * no children at start, `startChild(sup, spec)` adds one, every child is
 * restarted alone (one_for_one). Children are kept in a Map keyed by ref id, so
 * starting, stopping or restarting one child is O(1) whatever their number (nact's
 * children map is never copied: see `Cell.createContext`).
 *
 * | event                  | what the supervisor does                                               |
 * | ---------------------- | ---------------------------------------------------------------------- |
 * | init(spec)             | traps exits; no children                                               |
 * | startChild(spec)       | starts it (sync when its `init` is); fails with PARLEY_ERR_MAX_CHILDREN |
 * |                        | past `maxChildren`                                                     |
 * | EXIT from a child      | as the static supervisor, one_for_one; intensity exceeded → every      |
 * |                        | child is shut down and the supervisor exits `shutdown`                 |
 * | terminateChild(ref)    | shuts that child down and forgets it                                   |
 * | restart/deleteChild    | PARLEY_ERR_NOT_SUPPORTED (as OTP's `{error, simple_one_for_one}`)      |
 * | EXIT from parent/stop  | all children are shut down at once (as OTP does for dynamic children), |
 * |                        | each honouring its `shutdown`                                          |
 */
import type { ActorContext, Behaviour, CallResult, NoReplyResult } from './behaviour.ts';
import type { Cell } from './cell.ts';
import type { StartResult } from './runtime-messages.ts';
import { cleanShutdown, fullChildSpec, shutdownChild, type ChildSpec, type FullChildSpec, type RestartType, type Shutdown } from './child-spec.ts';
import { ActorError } from './errors.ts';
import { send, startProcess, type SpawnParent, type StartOptions } from './gen-server.ts';
import { addRestart, intensityExceeded } from './restart-intensity.ts';
import {
  failure,
  runStart,
  started,
  supervisorReport,
  tagChild,
  TryAgainRestart,
  type ChildCounts,
  type ChildInfo,
  type SupervisorReply,
  type SupervisorRequest,
} from './supervisor-api.ts';
import { isNormalExit, type ExitReason, type Ref, type SystemMessage } from './types.ts';

/** Flags of a dynamic supervisor. */
export interface DynamicSupervisorSpec {
  /** Restarts allowed per `period`. @default 1 */
  readonly intensity?: number;
  /** Window of the intensity, seconds. @default 5 */
  readonly period?: number;
  /** Most children at once; more fail with `PARLEY_ERR_MAX_CHILDREN`. @default Infinity */
  readonly maxChildren?: number;
}

/** Defaults of `DynamicSupervisorSpec` (OTP's intensity and period). */
export const DEFAULT_DYNAMIC_SUPERVISOR = { intensity: 1, period: 5, maxChildren: Infinity } as const;

interface DynamicChild {
  readonly spec: FullChildSpec;
  ref: Ref | undefined;
  restarts: number;
}

/** The whole state of a dynamic supervisor. */
interface DynamicSupervisorState {
  readonly intensity: number;
  readonly period: number;
  readonly maxChildren: number;
  /** Running children by ref id (insertion order = start order). */
  readonly children: Map<number, DynamicChild>;
  /** Children whose restart failed, waiting for a retry, by retry key. */
  readonly retrying: Map<number, DynamicChild>;
  nextRetryKey: number;
  /** Restart times in the window, newest first. */
  restarts: number[];
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

function validCount(n: unknown, what: string): number {
  if (typeof n === 'number' && n >= 0) return n;
  throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid ${what} ${String(n)}`);
}

/** Records a start result; `then` continues synchronously when the start was synchronous. */
function afterStart<T>(r: StartResult | Promise<StartResult>, then: (r: StartResult) => T): T | Promise<T> {
  return isThenable(r) ? (r as Promise<StartResult>).then(then) : then(r as StartResult);
}

function startChildNow(ctx: ActorContext, state: DynamicSupervisorState, spec: FullChildSpec): SupervisorReply | Promise<SupervisorReply> {
  return afterStart(runStart(ctx, spec.start, DYNAMIC_SUPERVISOR.name), (r): SupervisorReply => {
    if (started(r)) {
      state.children.set(r.ok.id, { spec, ref: r.ok, restarts: 0 });
      tagChild(r.ok, spec.id, 0);
      supervisorReport(ctx, 'started', spec.id, r.ok, undefined);
      return { ok: r.ok };
    }
    if (r === 'ignore') return { ok: undefined };
    supervisorReport(ctx, 'start_error', spec.id, undefined, r.error);
    return failure('PARLEY_ERR_START_CHILD', `child ${spec.id} failed to start`, r.error);
  });
}

function restart(ctx: ActorContext, state: DynamicSupervisorState, child: DynamicChild): NoReplyResult<DynamicSupervisorState> | Promise<NoReplyResult<DynamicSupervisorState>> {
  state.restarts = addRestart(state.restarts, ctx.actorSystem.clock(), state.period, state.intensity + 1);
  if (intensityExceeded(state.restarts, state.intensity)) {
    supervisorReport(ctx, 'max_intensity', child.spec.id, undefined, undefined);
    return { stop: 'shutdown', state };
  }
  child.restarts++;
  return afterStart(runStart(ctx, child.spec.start, DYNAMIC_SUPERVISOR.name), (r): NoReplyResult<DynamicSupervisorState> => {
    if (started(r)) {
      child.ref = r.ok;
      state.children.set(r.ok.id, child);
      tagChild(r.ok, child.spec.id, child.restarts);
      supervisorReport(ctx, 'restarted', child.spec.id, r.ok, undefined);
    } else if (r !== 'ignore') {
      supervisorReport(ctx, 'start_error', child.spec.id, undefined, r.error);
      const key = state.nextRetryKey++;
      state.retrying.set(key, child);
      send(ctx.self, new TryAgainRestart(key));
    }
    return { noreply: state };
  });
}

function onChildExit(ctx: ActorContext, state: DynamicSupervisorState, from: Ref, reason: ExitReason): NoReplyResult<DynamicSupervisorState> | Promise<NoReplyResult<DynamicSupervisorState>> {
  const child = state.children.get(from.id);
  if (child === undefined) return { noreply: state };
  state.children.delete(from.id);
  child.ref = undefined;
  supervisorReport(ctx, 'child_exited', child.spec.id, from, reason);
  if (child.spec.restart === 'temporary' || (child.spec.restart === 'transient' && isNormalExit(reason))) return { noreply: state };
  return restart(ctx, state, child);
}

async function stopChild(ctx: ActorContext, state: DynamicSupervisorState, child: DynamicChild): Promise<void> {
  const ref = child.ref;
  if (ref === undefined) return;
  state.children.delete(ref.id);
  child.ref = undefined;
  const reason = await shutdownChild(ctx as Cell, ref, child.spec.shutdown);
  supervisorReport(ctx, cleanShutdown(child.spec.shutdown, reason) ? 'shutdown' : 'shutdown_error', child.spec.id, ref, reason);
}

function handleRequest(ctx: ActorContext, state: DynamicSupervisorState, req: SupervisorRequest): SupervisorReply | Promise<SupervisorReply> {
  switch (req.op) {
    case 'startChild': {
      let spec: FullChildSpec;
      try {
        spec = fullChildSpec(req.spec);
      } catch (err) {
        return failure('PARLEY_ERR_BAD_SPEC', (err as Error).message);
      }
      if (state.children.size >= state.maxChildren) return failure('PARLEY_ERR_MAX_CHILDREN', `at most ${state.maxChildren} children`);
      return startChildNow(ctx, state, spec);
    }
    case 'terminateChild': {
      const child = typeof req.id === 'string' ? undefined : state.children.get(req.id.id);
      if (child === undefined) return failure('PARLEY_ERR_CHILD_NOT_FOUND', 'no such child (a dynamic supervisor terminates children by ref)');
      return stopChild(ctx, state, child).then((): SupervisorReply => ({ ok: undefined }));
    }
    case 'restartChild':
    case 'deleteChild':
      return failure('PARLEY_ERR_NOT_SUPPORTED', `${req.op} is not supported by a dynamic supervisor`);
    case 'whichChildren': {
      const out: ChildInfo[] = [];
      for (const c of state.children.values()) out.push({ id: undefined, ref: c.ref, type: c.spec.type, restart: c.spec.restart });
      return { ok: out };
    }
    case 'countChildren': {
      let supervisors = 0;
      for (const c of state.children.values()) if (c.spec.type === 'supervisor') supervisors++;
      const n = state.children.size;
      const counts: ChildCounts = { specs: n, active: n, supervisors, workers: n - supervisors };
      return { ok: counts };
    }
  }
}

/** The dynamic supervisor behaviour (start it with `startDynamicSupervisor`). */
export const DYNAMIC_SUPERVISOR: Behaviour<DynamicSupervisorState, Required<DynamicSupervisorSpec>> = {
  name: 'dynamic_supervisor',
  init(spec, ctx) {
    ctx.trapExit(true);
    return {
      ok: {
        intensity: spec.intensity,
        period: spec.period,
        maxChildren: spec.maxChildren,
        children: new Map(),
        retrying: new Map(),
        nextRetryKey: 1,
        restarts: [],
      },
    };
  },
  handleCall(request, _from, state, ctx): CallResult<DynamicSupervisorState, unknown> | Promise<CallResult<DynamicSupervisorState, unknown>> {
    const r = handleRequest(ctx, state, request as SupervisorRequest);
    return isThenable(r) ? r.then((reply) => ({ reply, state })) : { reply: r, state };
  },
  handleInfo(message, state, ctx) {
    if (message instanceof TryAgainRestart) {
      const child = state.retrying.get(message.key as number);
      if (child === undefined) return { noreply: state };
      state.retrying.delete(message.key as number);
      return restart(ctx, state, child);
    }
    const m = message as SystemMessage;
    if (m.type === 'EXIT') return onChildExit(ctx, state, m.from, m.reason);
    return { noreply: state };
  },
  async terminate(_reason, state, ctx) {
    state.retrying.clear();
    await Promise.all([...state.children.values()].map((c) => stopChild(ctx, state, c)));
  },
};

function validDynamicSpec(spec: DynamicSupervisorSpec): Required<DynamicSupervisorSpec> {
  return {
    intensity: validCount(spec.intensity ?? DEFAULT_DYNAMIC_SUPERVISOR.intensity, 'intensity'),
    period: validCount(spec.period ?? DEFAULT_DYNAMIC_SUPERVISOR.period, 'period'),
    maxChildren: validCount(spec.maxChildren ?? DEFAULT_DYNAMIC_SUPERVISOR.maxChildren, 'maxChildren'),
  };
}

/** Starts a dynamic supervisor linked to `parent`. */
export async function startDynamicSupervisor(parent: SpawnParent, spec: DynamicSupervisorSpec = {}, options: StartOptions = {}): Promise<StartResult> {
  return startProcess(parent, DYNAMIC_SUPERVISOR as Behaviour<unknown, unknown>, validDynamicSpec(spec), true, options.name);
}

/** Options of `dynamicSupervisorChild`. */
export interface DynamicSupervisorChildOptions {
  /** @default 'permanent' */
  restart?: RestartType;
  /** @default 'infinity' */
  shutdown?: Shutdown;
  /** Registered name. @default undefined */
  name?: string;
}

/** A child spec for a dynamic supervisor under another supervisor. */
export function dynamicSupervisorChild(id: string, spec: DynamicSupervisorSpec = {}, options: DynamicSupervisorChildOptions = {}): ChildSpec {
  const valid = validDynamicSpec(spec);
  return {
    id,
    type: 'supervisor',
    start: (parent) => startProcess(parent, DYNAMIC_SUPERVISOR as Behaviour<unknown, unknown>, valid, true, options.name),
    ...(options.restart === undefined ? {} : { restart: options.restart }),
    ...(options.shutdown === undefined ? {} : { shutdown: options.shutdown }),
  };
}

/**
 * The static supervisor (OTP `supervisor` with `one_for_one`, `one_for_all`,
 * `rest_for_one`), written as a `Behaviour` that traps exits.
 *
 * | event                              | what the supervisor does                                          |
 * | ---------------------------------- | ----------------------------------------------------------------- |
 * | init(spec)                         | traps exits; starts children left to right; on the first failure  |
 * |                                    | shuts the started ones down (reverse order) and fails with        |
 * |                                    | {shutdown: {failedToStartChild: {id, reason}}}                    |
 * | EXIT from a child                  | temporary: forget it; transient + normal/shutdown: keep the spec; |
 * |                                    | otherwise add a restart, and if intensity is exceeded shut every  |
 * |                                    | child down (reverse order) and exit `shutdown`; else restart by   |
 * |                                    | strategy (a failed restart is retried later and counted again)    |
 * | EXIT from the parent / stop        | terminate: children shut down in reverse start order, each with   |
 * |                                    | its `shutdown` (brutal_kill · ms then kill · infinity)            |
 * | calls                              | startChild, terminateChild, restartChild, deleteChild,            |
 * |                                    | whichChildren, countChildren (see supervisor-api.ts)              |
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

/** How a static supervisor restarts siblings of a failed child. */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/** A static supervisor: flags and children (OTP's `init/1` answer). */
export interface SupervisorSpec {
  /** @default 'one_for_one' */
  readonly strategy?: Strategy;
  /** Restarts allowed per `period`. @default 1 */
  readonly intensity?: number;
  /** Window of the intensity, seconds. @default 5 */
  readonly period?: number;
  readonly children: readonly ChildSpec[];
}

/** OTP's default supervisor flags. */
export const DEFAULT_SUPERVISOR_FLAGS = { strategy: 'one_for_one', intensity: 1, period: 5 } as const;

interface ChildRecord {
  readonly spec: FullChildSpec;
  ref: Ref | undefined;
  restarts: number;
}

/** The whole state of a static supervisor. */
interface SupervisorState {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly period: number;
  /** Child ids in start order. */
  readonly order: string[];
  readonly children: Map<string, ChildRecord>;
  /** Running children by ref id. */
  readonly byRef: Map<number, ChildRecord>;
  /** Restart times in the window, newest first. */
  restarts: number[];
}

interface ValidSpec {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly period: number;
  readonly children: readonly FullChildSpec[];
}

function validStrategy(s: unknown): Strategy {
  if (s === 'one_for_one' || s === 'one_for_all' || s === 'rest_for_one') return s;
  throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid strategy ${String(s)}`);
}

function validCount(n: unknown, what: string): number {
  if (typeof n === 'number' && n >= 0 && Number.isFinite(n)) return n;
  throw new ActorError('PARLEY_ERR_BAD_SPEC', `invalid ${what} ${String(n)}`);
}

/** Validates a spec and fills defaults; throws `PARLEY_ERR_BAD_SPEC`. */
function validSpec(spec: SupervisorSpec): ValidSpec {
  const children = spec.children.map(fullChildSpec);
  const ids = new Set<string>();
  for (const c of children) {
    if (ids.has(c.id)) throw new ActorError('PARLEY_ERR_BAD_SPEC', `duplicate child id ${c.id}`);
    ids.add(c.id);
  }
  return {
    strategy: validStrategy(spec.strategy ?? DEFAULT_SUPERVISOR_FLAGS.strategy),
    intensity: validCount(spec.intensity ?? DEFAULT_SUPERVISOR_FLAGS.intensity, 'intensity'),
    period: validCount(spec.period ?? DEFAULT_SUPERVISOR_FLAGS.period, 'period'),
    children,
  };
}

async function startRecord(ctx: ActorContext, state: SupervisorState, rec: ChildRecord, restarted: boolean): Promise<StartResult> {
  const r = await runStart(ctx, rec.spec.start, SUPERVISOR.name);
  if (started(r)) {
    rec.ref = r.ok;
    state.byRef.set(r.ok.id, rec);
    tagChild(r.ok, rec.spec.id, rec.restarts);
    supervisorReport(ctx, restarted ? 'restarted' : 'started', rec.spec.id, r.ok, undefined);
  } else if (r !== 'ignore') supervisorReport(ctx, 'start_error', rec.spec.id, undefined, r.error);
  return r;
}

async function stopRecord(ctx: ActorContext, state: SupervisorState, rec: ChildRecord): Promise<void> {
  const ref = rec.ref;
  if (ref === undefined) return;
  rec.ref = undefined;
  state.byRef.delete(ref.id);
  const reason = await shutdownChild(ctx as Cell, ref, rec.spec.shutdown);
  supervisorReport(ctx, cleanShutdown(rec.spec.shutdown, reason) ? 'shutdown' : 'shutdown_error', rec.spec.id, ref, reason);
}

function removeRecord(state: SupervisorState, rec: ChildRecord): void {
  state.children.delete(rec.spec.id);
  const i = state.order.indexOf(rec.spec.id);
  if (i >= 0) state.order.splice(i, 1);
}

/** Shuts down `ids` in the given order (callers pass reverse start order); temporary children are forgotten. */
async function stopChildren(ctx: ActorContext, state: SupervisorState, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    const rec = state.children.get(id);
    if (rec === undefined) continue;
    await stopRecord(ctx, state, rec);
    if (rec.spec.restart === 'temporary') removeRecord(state, rec);
  }
}

/** Restarts after `failed` exited abnormally (or a retry of a failed restart). */
async function restart(ctx: ActorContext, state: SupervisorState, failed: ChildRecord): Promise<NoReplyResult<SupervisorState>> {
  state.restarts = addRestart(state.restarts, ctx.actorSystem.clock(), state.period, state.intensity + 1);
  if (intensityExceeded(state.restarts, state.intensity)) {
    supervisorReport(ctx, 'max_intensity', failed.spec.id, undefined, undefined);
    return { stop: 'shutdown', state };
  }
  failed.restarts++;
  if (state.strategy === 'one_for_one') {
    const r = await startRecord(ctx, state, failed, true);
    if (typeof r === 'object' && 'error' in r) send(ctx.self, new TryAgainRestart(failed.spec.id));
    return { noreply: state };
  }
  const from = state.strategy === 'one_for_all' ? 0 : state.order.indexOf(failed.spec.id);
  const group = state.order.slice(from);
  await stopChildren(ctx, state, [...group].reverse());
  const begun: ChildRecord[] = [];
  for (const id of group) {
    const rec = state.children.get(id);
    if (rec === undefined || rec.ref !== undefined) continue;
    if (rec !== failed) rec.restarts++;
    const r = await startRecord(ctx, state, rec, true);
    if (typeof r === 'object' && 'error' in r) {
      // OTP: stop what this round started, then try the whole group again later.
      await stopChildren(ctx, state, begun.map((b) => b.spec.id).reverse());
      send(ctx.self, new TryAgainRestart(rec.spec.id));
      break;
    }
    begun.push(rec);
  }
  return { noreply: state };
}

async function onChildExit(ctx: ActorContext, state: SupervisorState, from: Ref, reason: ExitReason): Promise<NoReplyResult<SupervisorState>> {
  const rec = state.byRef.get(from.id);
  if (rec === undefined || rec.ref?.id !== from.id) return { noreply: state };
  state.byRef.delete(from.id);
  rec.ref = undefined;
  supervisorReport(ctx, 'child_exited', rec.spec.id, from, reason);
  if (rec.spec.restart === 'temporary') {
    removeRecord(state, rec);
    return { noreply: state };
  }
  if (rec.spec.restart === 'transient' && isNormalExit(reason)) return { noreply: state };
  return restart(ctx, state, rec);
}

function info(rec: ChildRecord): ChildInfo {
  return { id: rec.spec.id, ref: rec.ref, type: rec.spec.type, restart: rec.spec.restart };
}

async function handleRequest(ctx: ActorContext, state: SupervisorState, req: SupervisorRequest): Promise<SupervisorReply> {
  switch (req.op) {
    case 'startChild': {
      let spec: FullChildSpec;
      try {
        spec = fullChildSpec(req.spec);
      } catch (err) {
        return failure('PARLEY_ERR_BAD_SPEC', (err as Error).message);
      }
      const existing = state.children.get(spec.id);
      if (existing !== undefined) {
        return existing.ref !== undefined
          ? failure('PARLEY_ERR_CHILD_ALREADY_STARTED', `child ${spec.id} already started`)
          : failure('PARLEY_ERR_CHILD_ALREADY_PRESENT', `child ${spec.id} already present`);
      }
      const rec: ChildRecord = { spec, ref: undefined, restarts: 0 };
      state.children.set(spec.id, rec);
      state.order.push(spec.id);
      const r = await startRecord(ctx, state, rec, false);
      if (typeof r === 'object' && 'error' in r) {
        removeRecord(state, rec);
        return failure('PARLEY_ERR_START_CHILD', `child ${spec.id} failed to start`, r.error);
      }
      return { ok: rec.ref };
    }
    case 'terminateChild': {
      const rec = typeof req.id === 'string' ? state.children.get(req.id) : state.byRef.get(req.id.id);
      if (rec === undefined) return failure('PARLEY_ERR_CHILD_NOT_FOUND', `no child ${typeof req.id === 'string' ? req.id : req.id.id}`);
      await stopRecord(ctx, state, rec);
      if (rec.spec.restart === 'temporary') removeRecord(state, rec);
      return { ok: undefined };
    }
    case 'restartChild': {
      const rec = state.children.get(req.id);
      if (rec === undefined) return failure('PARLEY_ERR_CHILD_NOT_FOUND', `no child ${req.id}`);
      if (rec.ref !== undefined) return failure('PARLEY_ERR_CHILD_RUNNING', `child ${req.id} is running`);
      const r = await startRecord(ctx, state, rec, true);
      if (typeof r === 'object' && 'error' in r) return failure('PARLEY_ERR_START_CHILD', `child ${req.id} failed to start`, r.error);
      return { ok: rec.ref };
    }
    case 'deleteChild': {
      const rec = state.children.get(req.id);
      if (rec === undefined) return failure('PARLEY_ERR_CHILD_NOT_FOUND', `no child ${req.id}`);
      if (rec.ref !== undefined) return failure('PARLEY_ERR_CHILD_RUNNING', `child ${req.id} is running`);
      removeRecord(state, rec);
      return { ok: undefined };
    }
    case 'whichChildren':
      return { ok: state.order.map((id) => info(state.children.get(id)!)) };
    case 'countChildren': {
      let active = 0;
      let supervisors = 0;
      for (const rec of state.children.values()) {
        if (rec.ref !== undefined) active++;
        if (rec.spec.type === 'supervisor') supervisors++;
      }
      const counts: ChildCounts = { specs: state.children.size, active, supervisors, workers: state.children.size - supervisors };
      return { ok: counts };
    }
  }
}

/** The supervisor behaviour itself (exported for introspection; start it with `startSupervisor`). */
export const SUPERVISOR: Behaviour<SupervisorState, ValidSpec> = {
  name: 'supervisor',
  async init(spec, ctx) {
    ctx.trapExit(true);
    const state: SupervisorState = {
      strategy: spec.strategy,
      intensity: spec.intensity,
      period: spec.period,
      order: [],
      children: new Map(),
      byRef: new Map(),
      restarts: [],
    };
    for (const child of spec.children) {
      const rec: ChildRecord = { spec: child, ref: undefined, restarts: 0 };
      state.children.set(child.id, rec);
      state.order.push(child.id);
      const r = await startRecord(ctx, state, rec, false);
      if (typeof r === 'object' && 'error' in r) {
        await stopChildren(ctx, state, [...state.order].reverse());
        return { stop: { shutdown: { failedToStartChild: { id: child.id, reason: r.error } } } };
      }
    }
    return { ok: state };
  },
  async handleCall(request, _from, state, ctx): Promise<CallResult<SupervisorState, unknown>> {
    return { reply: await handleRequest(ctx, state, request as SupervisorRequest), state };
  },
  handleInfo(message, state, ctx) {
    if (message instanceof TryAgainRestart) {
      const rec = state.children.get(message.key as string);
      if (rec === undefined || rec.ref !== undefined) return { noreply: state };
      return restart(ctx, state, rec);
    }
    const m = message as SystemMessage;
    if (m.type === 'EXIT') return onChildExit(ctx, state, m.from, m.reason);
    return { noreply: state };
  },
  async terminate(_reason, state, ctx) {
    await stopChildren(ctx, state, [...state.order].reverse());
  },
};

/**
 * Starts a static supervisor linked to `parent`. Rejects with
 * `PARLEY_ERR_BAD_SPEC` for an invalid spec; a child that fails to start makes
 * the result `{error: {shutdown: {failedToStartChild}}}`.
 */
export async function startSupervisor(parent: SpawnParent, spec: SupervisorSpec, options: StartOptions = {}): Promise<StartResult> {
  const valid = validSpec(spec);
  return startProcess(parent, SUPERVISOR as Behaviour<unknown, unknown>, valid, true, options.name);
}

/** Options of `supervisorChild`. */
export interface SupervisorChildOptions {
  /** @default 'permanent' */
  restart?: RestartType;
  /** @default 'infinity' */
  shutdown?: Shutdown;
  /** Registered name. @default undefined */
  name?: string;
}

/** A child spec for a nested static supervisor. */
export function supervisorChild(id: string, spec: SupervisorSpec, options: SupervisorChildOptions = {}): ChildSpec {
  const valid = validSpec(spec);
  return {
    id,
    type: 'supervisor',
    start: (parent) => startProcess(parent, SUPERVISOR as Behaviour<unknown, unknown>, valid, true, options.name),
    ...(options.restart === undefined ? {} : { restart: options.restart }),
    ...(options.shutdown === undefined ? {} : { shutdown: options.shutdown }),
  };
}

/**
 * Introspection and hot code change (OTP `sys` and `process_info`), for the ops
 * tools: `getState`, `suspend`, `resume` and `changeCode` travel as system
 * messages, in order with the process's other messages; `getStatus` reads the
 * process at once (as `process_info` does), so it answers even when the process
 * is busy, blocked or suspended.
 */
import type { Behaviour, Vsn } from './behaviour.ts';
import type { Cell } from './cell.ts';
import { K_SYS } from './mailbox.ts';
import { ActorError } from './errors.ts';
import { statusWord, SysRequest, type SysOp } from './sys-request.ts';
import { lookupCell } from './system.ts';
import type { Protocol, Ref } from './types.ts';

/** Measured bytes of an idle process (cell, nact path and maps, ref, mailbox): see bench/supervisors. */
export const IDLE_PROCESS_BYTES = 1_450;

/** A process's status, for operators. */
export interface ProcessStatus {
  readonly ref: Ref;
  readonly behaviour: string;
  readonly vsn: Vsn;
  /** nact path. */
  readonly path: string;
  /** Its id in its supervisor, if a supervisor started it. */
  readonly childId: string | undefined;
  readonly status: 'starting' | 'running' | 'waiting' | 'suspended' | 'blocked' | 'exiting' | 'dead';
  /** Messages queued (system messages included). */
  readonly mailboxLength: number;
  /** Messages handled since start. */
  readonly handled: number;
  /** Times its supervisor restarted this child before this incarnation. */
  readonly restarts: number;
  readonly uptimeMs: number;
  readonly trapExit: boolean;
  readonly links: number;
  readonly monitors: number;
  /** Rough bytes: the idle process plus its mailbox plus a bounded walk of its state. */
  readonly memoryBytes: number;
}

function target(ref: Ref): Cell {
  const cell = lookupCell(ref);
  if (cell === undefined) throw new ActorError('PARLEY_ERR_NOPROC', `no process ${ref.node}/${ref.id}`);
  return cell;
}

function sysCall(ref: Ref, op: SysOp, arg?: unknown, extra?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    target(ref).deliver(K_SYS, new SysRequest(op, arg, extra, resolve, reject));
  });
}

/** Estimates the bytes of a value by walking at most `budget` nodes (never exact; never slow). */
export function estimateBytes(value: unknown, budget = 2_000): number {
  let bytes = 0;
  let nodes = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0 && nodes < budget) {
    const v = stack.pop();
    nodes++;
    switch (typeof v) {
      case 'string':
        bytes += 16 + v.length * 2;
        break;
      case 'number':
      case 'boolean':
      case 'undefined':
        bytes += 8;
        break;
      case 'bigint':
        bytes += 16;
        break;
      case 'object': {
        if (v === null || seen.has(v)) break;
        seen.add(v);
        if (ArrayBuffer.isView(v)) bytes += 64 + v.byteLength;
        else if (v instanceof Map || v instanceof Set) {
          bytes += 64 + v.size * 24;
          for (const e of v instanceof Map ? v.entries() : v.values()) stack.push(e);
        } else {
          const keys = Object.keys(v);
          bytes += 24 + keys.length * 8;
          for (const k of keys) stack.push((v as Record<string, unknown>)[k]);
        }
        break;
      }
      default:
        bytes += 32;
    }
  }
  return bytes;
}

/** The process's state, after the messages already queued (OTP `sys:get_state`). */
export function getState<S = unknown>(ref: Ref): Promise<S> {
  return sysCall(ref, 'getState') as Promise<S>;
}

/** The process's status now (OTP `process_info`); rejects `PARLEY_ERR_NOPROC`. */
export async function getStatus(ref: Ref): Promise<ProcessStatus> {
  const c = target(ref);
  const mailboxLength = (c.mailbox.size() >> 1) + (c.sysQueue?.length ?? 0);
  return {
    ref: c.self,
    behaviour: c.behaviour.name,
    vsn: c.behaviour.vsn,
    path: c.treePath,
    childId: c.childId,
    status: statusWord(c),
    mailboxLength,
    handled: c.handled,
    restarts: c.restarts,
    uptimeMs: performance.now() - c.startedAt,
    trapExit: c.trapsExits,
    links: c.linkCount(),
    monitors: c.monitors?.size ?? 0,
    memoryBytes: IDLE_PROCESS_BYTES + mailboxLength * 16 + estimateBytes(c.state),
  };
}

/**
 * Suspends the process after the messages already queued (OTP `sys:suspend`):
 * it then handles only system messages; others wait in its mailbox.
 */
export async function suspend(ref: Ref): Promise<void> {
  await sysCall(ref, 'suspend');
}

/** Resumes a suspended process; the messages that waited are handled in arrival order. */
export async function resume(ref: Ref): Promise<void> {
  await sysCall(ref, 'resume');
}

/**
 * Switches a suspended process to `next` (OTP `sys:change_code`): calls
 * `next.codeChange(oldVsn, state, extra)` and keeps the new state; queued
 * messages stay queued and `resume` hands them to the new code. Rejects
 * `PARLEY_ERR_NOT_SUSPENDED`, or `PARLEY_ERR_CODE_CHANGE` (old code and state kept).
 */
export async function changeCode<S, A, P extends Protocol>(ref: Ref, next: Behaviour<S, A, P>, extra?: unknown): Promise<void> {
  await sysCall(ref, 'changeCode', next, extra);
}

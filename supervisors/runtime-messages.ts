/**
 * What travels through mailboxes besides user messages: EXIT and DOWN messages,
 * the pending-call record that is also the reply token (`From`), start results.
 */
import { settled, type Expiring } from './call-timeouts.ts';
import type { Cell } from './cell.ts';
import { CallError } from './errors.ts';
import type { DownMessage, ExitMessage, ExitReason, MonitorRef, Protocol, Ref } from './types.ts';

/** Called once with the exit reason of a monitored process. */
export type DownCallback = (reason: ExitReason) => void;

/** What `startLink`/`start` report, as OTP's `{ok, Pid} | ignore | {error, Reason}`. */
export type StartResult<P extends Protocol = Protocol> = { readonly ok: Ref<P> } | 'ignore' | { readonly error: ExitReason };

/** Whether a callback returned a promise (or thenable). */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** A payload-free description of a bad return value. */
export function shapeOf(x: unknown): string {
  // Only the shape: a returned value may hold message payload.
  if (typeof x === 'string' && /^[a-z_]{1,16}$/i.test(x)) return `'${x}'`;
  if (typeof x !== 'object' || x === null) return x === null ? 'null' : typeof x;
  return `{${Object.keys(x).slice(0, 6).join(',')}}`;
}

/** The EXIT message a trapping process receives. */
export class ExitMsg implements ExitMessage {
  readonly type = 'EXIT' as const;
  constructor(readonly from: Ref, readonly reason: ExitReason) {}
}

/** The DOWN message a monitor delivers. */
export class DownMsg implements DownMessage {
  readonly type = 'DOWN' as const;
  constructor(readonly monitor: MonitorRef, readonly ref: Ref, readonly reason: ExitReason) {}
}

/** A pending `call`: the reply token (`From`) and the caller's promise. */
export class CallRequest implements Expiring {
  deadline = Infinity;
  done = false;
  resolve!: (value: unknown) => void;
  reject!: (err: unknown) => void;
  readonly promise: Promise<unknown>;
  constructor(readonly request: unknown, readonly target: Cell) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
  settle(value: unknown): void {
    if (this.done) return;
    this.finish();
    this.resolve(value);
  }
  fail(reason: ExitReason | 'timeout'): void {
    if (this.done) return;
    this.finish();
    this.reject(new CallError(reason, this.target.self));
  }
  expire(): void {
    this.fail('timeout');
  }
  private finish(): void {
    this.done = true;
    if (this.deadline !== Infinity) settled();
    this.target.calls?.delete(this);
  }
}

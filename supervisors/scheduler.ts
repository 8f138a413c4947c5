/**
 * One run queue for every process in this JS thread, Erlang-style. nact's stock
 * dispatch pays one `setImmediate` (a macrotask) per message; here a send to an
 * idle process puts the process on a ring-buffer run queue, and one drain loop
 * runs each ready process for up to `DEFAULT_SCHEDULER.batch` messages before
 * moving on (fairness), all inside one microtask. After
 * `DEFAULT_SCHEDULER.turnBudget` messages the loop yields to the event loop with
 * `setImmediate`, so sockets and timers are never starved by a busy actor graph.
 * Nothing here allocates per message.
 */

/** A process the scheduler can run. */
export interface Runnable {
  /** Set by the scheduler while the process sits on the run queue. */
  queued: boolean;
  /** Handles up to `max` messages; returns how many it handled. */
  runSlice(max: number): number;
  /** Whether it could run now (messages waiting, not blocked, not suspended). */
  runnable(): boolean;
}

/** Scheduler tuning. */
export const DEFAULT_SCHEDULER = {
  /** Messages one process handles before the next process gets its turn. @default 64 */
  batch: 64,
  /** Messages handled before yielding to the event loop (I/O, timers). @default 20000 */
  turnBudget: 20_000,
} as const;

let ring: (Runnable | undefined)[] = new Array<Runnable | undefined>(1024);
let mask = ring.length - 1;
let head = 0;
let tail = 0;
let armed = false;

function grow(): void {
  const old = ring;
  const size = old.length;
  const next = new Array<Runnable | undefined>(size * 2);
  for (let i = 0; i < size; i++) next[i] = old[(head + i) & mask];
  ring = next;
  head = 0;
  tail = size;
  mask = next.length - 1;
}

/** Puts `p` on the run queue (once) and arms the drain loop. */
export function schedule(p: Runnable): void {
  if (p.queued) return;
  p.queued = true;
  ring[tail] = p;
  tail = (tail + 1) & mask;
  if (tail === head) grow();
  if (!armed) {
    armed = true;
    queueMicrotask(drain);
  }
}

function drain(): void {
  let budget: number = DEFAULT_SCHEDULER.turnBudget;
  const batch = DEFAULT_SCHEDULER.batch;
  while (head !== tail) {
    const p = ring[head]!;
    ring[head] = undefined;
    head = (head + 1) & mask;
    p.queued = false;
    budget -= p.runSlice(batch) + 1;
    if (p.runnable()) schedule(p);
    if (budget <= 0 && head !== tail) {
      setImmediate(drain);
      return;
    }
  }
  armed = false;
}

/**
 * Test helpers: a fake monotonic clock, a configurable worker behaviour that logs
 * what it lives through, and report waiters. Tests synchronise on exits,
 * reports and calls (which queue behind earlier messages), never on sleeps.
 */
import { startSystem, type ActorSystem, type Behaviour, type ExitReason, type Report, type Ref } from '../../supervisors/index.ts';

let nodeSeq = 0;

/** A clock the test moves by hand. */
export class FakeClock {
  now = 1_000;
  advance(seconds: number): void {
    this.now += seconds;
  }
  read = (): number => this.now;
}

/** A fresh system with a unique node name and a fake clock. */
export function newSystem(): { sys: ActorSystem; clock: FakeClock } {
  const clock = new FakeClock();
  const sys = startSystem({ node: `test-${process.pid}-${++nodeSeq}`, clock: clock.read });
  return { sys, clock };
}

/** What a probe does; `log` collects `init:<id>` and `terminate:<id>:<reason>` lines. */
export interface ProbeArgs {
  readonly id: string;
  readonly log?: string[];
  readonly trap?: boolean;
  /** init fails with this behaviour. */
  readonly initFails?: boolean;
  /** terminate waits on this promise (simulates a slow or hung terminate). */
  readonly terminateWaits?: Promise<void>;
}

/** Casts a probe understands. */
export type ProbeCast = { readonly stop: ExitReason } | { readonly crash: string } | 'inc';

/** Calls a probe understands. */
export type ProbeCall = 'get' | 'ref';

export interface ProbeState {
  readonly id: string;
  count: number;
  readonly args: ProbeArgs;
}

export function reasonText(r: ExitReason): string {
  if (typeof r === 'string') return r;
  if ('error' in r) return `error:${r.error.message}`;
  return JSON.stringify(r);
}

/** A worker that logs its life, counts `inc`s, and stops or throws on demand. */
export const PROBE: Behaviour<ProbeState, ProbeArgs, { call: ProbeCall; reply: unknown; cast: ProbeCast; info: unknown }> = {
  name: 'probe',
  init(args, ctx) {
    if (args.trap === true) ctx.trapExit(true);
    args.log?.push(`init:${args.id}`);
    if (args.initFails === true) throw new Error(`init of ${args.id} failed`);
    return { ok: { id: args.id, count: 0, args } };
  },
  handleCall(req, _from, state, ctx) {
    if (req === 'get') return { reply: state.count, state };
    return { reply: ctx.self, state };
  },
  handleCast(msg, state) {
    if (msg === 'inc') {
      state.count++;
      return { noreply: state };
    }
    if ('crash' in msg) throw new Error(msg.crash);
    return { stop: msg.stop, state };
  },
  terminate(reason, state) {
    const line = `terminate:${state.id}:${reasonText(reason)}`;
    if (state.args.terminateWaits !== undefined) {
      return state.args.terminateWaits.then(() => {
        state.args.log?.push(line);
      });
    }
    state.args.log?.push(line);
    return undefined;
  },
};

/** Resolves with the first report matching `match` (subscribe before acting). */
export function nextReport(sys: ActorSystem, match: (r: Report) => boolean): Promise<Report> {
  return new Promise((resolve) => {
    const off = sys.reports.subscribe((r) => {
      if (match(r)) {
        off();
        resolve(r);
      }
    });
  });
}

/** Collects every report from now on. */
export function collectReports(sys: ActorSystem): Report[] {
  const out: Report[] = [];
  sys.reports.subscribe((r) => out.push(r));
  return out;
}

export { prng } from '../support/prng.ts';

/** Refs of the running children by id. */
export function refsById(children: readonly { id: string | undefined; ref: Ref | undefined }[]): Map<string, Ref | undefined> {
  return new Map(children.map((c) => [c.id ?? '', c.ref]));
}

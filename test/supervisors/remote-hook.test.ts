/**
 * The remote-routing extension point (`setRemoteRouter`): operations on refs of
 * another node go to the router of the caller's system; local refs never do; a
 * system without a router behaves as before. A recording router stands in for
 * the cluster layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  call,
  cast,
  send,
  okRef,
  start,
  setRemoteRouter,
  deliverDown,
  deliverExit,
  onLocalExit,
  CallError,
  type Behaviour,
  type ExitReason,
  type ExitSignal,
  type MonitorRef,
  type Ref,
  type RemoteRouter,
  type SystemMessage,
} from '../../supervisors/index.ts';
import { newSystem } from './support.ts';

type Op = readonly [string, ...unknown[]];

class RecordingRouter implements RemoteRouter {
  readonly ops: Op[] = [];
  reply: unknown = 'remote-reply';
  send(to: Ref, kind: 'cast' | 'info', message: unknown): void {
    this.ops.push(['send', to, kind, message]);
  }
  call(to: Ref, request: unknown, _timeoutMs: number): Promise<unknown> {
    this.ops.push(['call', to, request]);
    return request === 'fail' ? Promise.reject(new CallError('noconnection', to)) : Promise.resolve(this.reply);
  }
  link(local: Ref, remote: Ref): void {
    this.ops.push(['link', local, remote]);
  }
  unlink(local: Ref, remote: Ref): void {
    this.ops.push(['unlink', local, remote]);
  }
  monitor(watcher: Ref, monitor: MonitorRef, target: Ref): void {
    this.ops.push(['monitor', watcher, monitor, target]);
  }
  demonitor(watcher: Ref, monitor: MonitorRef): void {
    this.ops.push(['demonitor', watcher, monitor]);
  }
  exit(from: Ref, to: Ref, signal: ExitSignal): void {
    this.ops.push(['exit', from, to, signal]);
  }
}

type Cmd =
  | { readonly sendTo: Ref; readonly msg: unknown }
  | { readonly castTo: Ref; readonly msg: unknown }
  | { readonly callTo: Ref; readonly req: unknown }
  | { readonly monitor: Ref }
  | { readonly demonitor: MonitorRef }
  | { readonly link: Ref }
  | { readonly unlink: Ref }
  | { readonly exit: Ref; readonly reason: ExitSignal };

/** Does what it is told from inside its callbacks; records what reaches handleInfo. */
const AGENT: Behaviour<{ seen: unknown[] }, unknown[], { call: Cmd | 'seen'; reply: unknown; cast: unknown; info: unknown }> = {
  name: 'agent',
  init: (seen) => ({ ok: { seen } }),
  async handleCall(cmd, _from, state, ctx) {
    if (cmd === 'seen') return { reply: state.seen, state };
    if ('sendTo' in cmd) send(cmd.sendTo, cmd.msg);
    else if ('castTo' in cmd) cast(cmd.castTo, cmd.msg);
    else if ('callTo' in cmd) return { reply: await call(cmd.callTo, cmd.req).catch((e: CallError) => e.code), state };
    else if ('monitor' in cmd) return { reply: ctx.monitor(cmd.monitor), state };
    else if ('demonitor' in cmd) ctx.demonitor(cmd.demonitor);
    else if ('link' in cmd) {
      ctx.trapExit(true);
      ctx.link(cmd.link);
    } else if ('unlink' in cmd) ctx.unlink(cmd.unlink);
    else ctx.exit(cmd.exit, cmd.reason);
    return { reply: 'ok', state };
  },
  handleInfo(msg: unknown, state) {
    state.seen.push(msg);
    return { noreply: state };
  },
};

function twoNodes() {
  const a = newSystem().sys;
  const b = newSystem().sys;
  const router = new RecordingRouter();
  setRemoteRouter(a, router);
  return { a, b, router };
}

test('remote hook - send, cast and call from a process to another node go to its router', async () => {
  const { a, b, router } = twoNodes();
  try {
    const agent = okRef(await start(a, AGENT, []));
    const local = okRef(await start(a, AGENT, []));
    const onB = okRef(await start(b, AGENT, []));
    await call(agent, { sendTo: onB, msg: 'hello' });
    await call(agent, { castTo: onB, msg: 'cast-hello' });
    assert.equal(await call(agent, { callTo: onB, req: 'ask' }), 'remote-reply');
    assert.equal(await call(agent, { callTo: onB, req: 'fail' }), 'PARLEY_ERR_CALL_EXIT');
    await call(agent, { sendTo: local, msg: 'local-hello' });
    assert.deepEqual(router.ops.map((o) => o[0]), ['send', 'send', 'call', 'call']);
    assert.deepEqual(router.ops[0], ['send', onB, 'info', 'hello']);
    assert.deepEqual(router.ops[1], ['send', onB, 'cast', 'cast-hello']);
    assert.deepEqual(await call(onB, 'seen'), [], 'nothing reached B directly');
    assert.deepEqual(await call(local, 'seen'), ['local-hello'], 'a local ref is never routed');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('remote hook - code outside processes routes refs of nodes absent from this JS process', async () => {
  const { a, router } = twoNodes();
  try {
    const ghost: Ref = { node: 'nowhere', id: 7 };
    send(ghost, 'x');
    assert.equal(await call(ghost, 'q'), 'remote-reply');
    const dead: Ref = { node: a.node, id: 999_999 };
    await assert.rejects(call(dead, 'q'), (e: CallError) => e.code === 'PARLEY_ERR_CALL_NOPROC');
    assert.deepEqual(router.ops, [['send', ghost, 'info', 'x'], ['call', ghost, 'q']]);
  } finally {
    await a.stop();
  }
});

test('remote hook - monitor, demonitor, link, unlink and exit on a remote ref go to the router', async () => {
  const { a, b, router } = twoNodes();
  try {
    const seen: unknown[] = [];
    const agent = okRef(await start(a, AGENT, seen));
    const onB = okRef(await start(b, AGENT, []));
    const mon = (await call(agent, { monitor: onB })) as MonitorRef;
    assert.equal(mon.node, a.node);
    await call(agent, { demonitor: mon });
    await call(agent, { link: onB });
    await call(agent, { unlink: onB });
    await call(agent, { exit: onB, reason: { exit: 'bye' } });
    assert.deepEqual(router.ops, [
      ['monitor', agent, mon, onB],
      ['demonitor', agent, mon],
      ['link', agent, onB],
      ['unlink', agent, onB],
      ['exit', agent, onB, { exit: 'bye' }],
    ]);
    // The router answers for the remote side with the helpers.
    deliverDown(agent, mon, onB, 'noconnection');
    assert.equal(deliverExit(onB, agent, 'noconnection'), true);
    const got = (await call(agent, 'seen')) as SystemMessage[];
    assert.deepEqual(got.map((m) => [m.type, m.reason]), [['DOWN', 'noconnection'], ['EXIT', 'noconnection']]);
    assert.deepEqual((got[0] as { ref: Ref }).ref, onB);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('remote hook - onLocalExit reports the exit reason once and can be cancelled', async () => {
  const { sys } = newSystem();
  try {
    const p = okRef(await start(sys, AGENT, []));
    const q = okRef(await start(sys, AGENT, []));
    const reasons: ExitReason[] = [];
    const exited = new Promise<void>((resolve) => {
      onLocalExit(p, (r) => {
        reasons.push(r);
        resolve();
      });
    });
    const cancel = onLocalExit(q, (r) => reasons.push(r))!;
    cancel();
    assert.equal(onLocalExit({ node: sys.node, id: 123_456_789 }, () => {}), undefined);
    assert.equal(deliverExit(a0(sys.node), p, { exit: 'remote-said-so' }), true);
    deliverExit(a0(sys.node), q, 'kill');
    await exited;
    assert.deepEqual(reasons, [{ exit: 'remote-said-so' }]);
  } finally {
    await sys.stop();
  }
});

function a0(node: string): Ref {
  return { node: `${node}-peer`, id: 1 };
}

test('remote hook - a system without a router reaches other systems of this JS process directly', async () => {
  const { sys: a } = newSystem();
  const { sys: b } = newSystem();
  try {
    const agent = okRef(await start(a, AGENT, []));
    const onB = okRef(await start(b, AGENT, []));
    await call(agent, { sendTo: onB, msg: 'direct' });
    assert.deepEqual(await call(onB, 'seen'), ['direct']);
  } finally {
    await a.stop();
    await b.stop();
  }
});

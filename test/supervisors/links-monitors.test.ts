import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  awaitExit,
  call,
  cast,
  exit,
  isAlive,
  kill,
  okRef,
  send,
  start,
  type Behaviour,
  type ExitSignal,
  type MonitorRef,
  type Ref,
  type SystemMessage,
} from '../../supervisors/index.ts';
import { newSystem } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());

type Op =
  | { readonly link: Ref }
  | { readonly unlink: Ref }
  | { readonly monitor: Ref }
  | { readonly demonitor: MonitorRef }
  | { readonly trap: boolean }
  | { readonly signal: Ref; readonly reason: ExitSignal };

interface WatcherState {
  inbox: unknown[];
  monitors: MonitorRef[];
}

/** A process driven by test casts; it records every info message it gets. */
const WATCHER: Behaviour<WatcherState, boolean, { call: 'inbox' | 'monitors'; reply: unknown; cast: Op; info: unknown }> = {
  name: 'watcher',
  init: (trap, ctx) => {
    ctx.trapExit(trap);
    return { ok: { inbox: [], monitors: [] } };
  },
  handleCall: (req, _f, s) => ({ reply: req === 'inbox' ? s.inbox : s.monitors, state: s }),
  handleCast(op, s, ctx) {
    if ('link' in op) ctx.link(op.link);
    else if ('unlink' in op) ctx.unlink(op.unlink);
    else if ('monitor' in op) s.monitors.push(ctx.monitor(op.monitor));
    else if ('demonitor' in op) ctx.demonitor(op.demonitor);
    else if ('trap' in op) ctx.trapExit(op.trap);
    else ctx.exit(op.signal, op.reason);
    return { noreply: s };
  },
  handleInfo(msg, s) {
    const m = msg as SystemMessage;
    s.inbox.push(typeof m === 'object' && m !== null && 'type' in m ? { type: m.type, reason: m.reason } : msg);
    return { noreply: s };
  },
};

async function spawnWatcher(trap = false): Promise<Ref> {
  return okRef(await start(sys, WATCHER, trap));
}

describe('links', () => {
  test('link - an abnormal exit propagates to a linked process that does not trap exits, in both directions', async () => {
    for (const dir of ['a dies', 'b dies'] as const) {
      const a = await spawnWatcher();
      const b = await spawnWatcher();
      cast(a, { link: b });
      await call(a, 'inbox');
      const [dying, other] = dir === 'a dies' ? [a, b] : [b, a];
      const otherDown = awaitExit(other);
      exit(dying, { exit: 'boom' });
      assert.deepEqual(await otherDown, { exit: 'boom' }, dir);
    }
  });

  test('link - a normal exit does not take a linked process down', async () => {
    const a = await spawnWatcher();
    const b = await spawnWatcher();
    cast(a, { link: b });
    await call(a, 'inbox');
    const down = awaitExit(b);
    cast(b, { signal: b, reason: 'normal' });
    assert.equal(await down, 'normal');
    assert.deepEqual(await call(a, 'inbox'), []);
    assert.ok(isAlive(a));
  });

  test('link - "shutdown" is not normal for links: it takes a non-trapping linked process down', async () => {
    const a = await spawnWatcher();
    const b = await spawnWatcher();
    cast(a, { link: b });
    await call(a, 'inbox');
    const aDown = awaitExit(a);
    exit(b, 'shutdown');
    assert.equal(await aDown, 'shutdown');
  });

  test('trap_exit - a process that traps exits receives {EXIT, reason} instead of dying, for normal exits too', async () => {
    const trapper = await spawnWatcher(true);
    const b = await spawnWatcher();
    const c = await spawnWatcher();
    cast(trapper, { link: b });
    cast(trapper, { link: c });
    await call(trapper, 'inbox');
    const bDown = awaitExit(b);
    exit(b, { exit: 'boom' });
    await bDown;
    const cDown = awaitExit(c);
    cast(c, { signal: c, reason: 'normal' });
    await cDown;
    assert.deepEqual(await call(trapper, 'inbox'), [
      { type: 'EXIT', reason: { exit: 'boom' } },
      { type: 'EXIT', reason: 'normal' },
    ]);
  });

  test('trap_exit - the flag can be turned off: the next abnormal exit signal kills', async () => {
    const p = await spawnWatcher(true);
    cast(p, { trap: false });
    await call(p, 'inbox');
    const down = awaitExit(p);
    exit(p, { exit: 'x' });
    assert.deepEqual(await down, { exit: 'x' });
  });

  test('kill - "kill" cannot be trapped: the target exits "killed", and linked trapping processes get EXIT "killed"', async () => {
    const victim = await spawnWatcher(true);
    const friend = await spawnWatcher(true);
    cast(friend, { link: victim });
    await call(friend, 'inbox');
    const down = awaitExit(victim);
    kill(victim);
    assert.equal(await down, 'killed');
    assert.deepEqual(await call(friend, 'inbox'), [{ type: 'EXIT', reason: 'killed' }]);
  });

  test('link - linking to a dead process sends noproc: EXIT noproc to a trapping process', async () => {
    const dead = await spawnWatcher();
    kill(dead);
    const p = await spawnWatcher(true);
    cast(p, { link: dead });
    assert.deepEqual(await call(p, 'inbox'), [{ type: 'EXIT', reason: 'noproc' }]);
  });

  test('link - unlink stops propagation', async () => {
    const a = await spawnWatcher();
    const b = await spawnWatcher();
    cast(a, { link: b });
    cast(a, { unlink: b });
    await call(a, 'inbox');
    const bDown = awaitExit(b);
    exit(b, { exit: 'boom' });
    await bDown;
    assert.ok(isAlive(a));
  });

  test('exit signal - exit(ref, "normal") is ignored by a process that does not trap exits', async () => {
    const p = await spawnWatcher();
    exit(p, 'normal');
    assert.deepEqual(await call(p, 'inbox'), []);
  });
});

describe('monitors', () => {
  test('monitor - DOWN arrives once with the exit reason', async () => {
    const w = await spawnWatcher();
    const t = await spawnWatcher();
    cast(w, { monitor: t });
    cast(w, { monitor: t });
    await call(w, 'inbox');
    const down = awaitExit(t);
    exit(t, { exit: 'gone' });
    await down;
    send(w, 'marker');
    assert.deepEqual(await call(w, 'inbox'), [{ type: 'DOWN', reason: { exit: 'gone' } }, { type: 'DOWN', reason: { exit: 'gone' } }, 'marker'], 'one DOWN per monitor');
    const [m1, m2] = (await call(w, 'monitors')) as MonitorRef[];
    assert.notEqual(m1!.id, m2!.id);
  });

  test('monitor - a monitor on a dead ref delivers DOWN noproc', async () => {
    const dead = await spawnWatcher();
    kill(dead);
    const w = await spawnWatcher();
    cast(w, { monitor: dead });
    assert.deepEqual(await call(w, 'inbox'), [{ type: 'DOWN', reason: 'noproc' }]);
  });

  test('monitor - monitors are one-way: the watcher does not die with the target', async () => {
    const w = await spawnWatcher();
    const t = await spawnWatcher();
    cast(w, { monitor: t });
    await call(w, 'inbox');
    kill(t);
    assert.deepEqual(await call(w, 'inbox'), [{ type: 'DOWN', reason: 'killed' }]);
    assert.ok(isAlive(w));
  });

  test('monitor - demonitor means no DOWN follows', async () => {
    const w = await spawnWatcher();
    const t = await spawnWatcher();
    cast(w, { monitor: t });
    const [m] = (await call(w, 'monitors')) as MonitorRef[];
    cast(w, { demonitor: m! });
    await call(w, 'inbox');
    kill(t);
    send(w, 'marker');
    assert.deepEqual(await call(w, 'inbox'), ['marker']);
  });

  test('monitor - awaitExit (a monitor from outside any process) resolves with the reason, noproc when already dead', async () => {
    const t = await spawnWatcher();
    const down = awaitExit(t);
    exit(t, { shutdown: 'bye' });
    assert.deepEqual(await down, { shutdown: 'bye' });
    assert.equal(await awaitExit(t), 'noproc');
  });
});

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  awaitExit,
  call,
  CallError,
  cast,
  kill,
  okRef,
  reply,
  send,
  start,
  startLink,
  stop,
  type Behaviour,
  type ExitReason,
  type From,
} from '../../supervisors/index.ts';
import { newSystem, PROBE, type ProbeArgs } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());

function initWith(result: unknown): Behaviour<unknown, void> {
  return { name: 'init_probe', init: () => result as never };
}

describe('gen_server init', () => {
  test('init - {ok: state} starts the process and startLink resolves {ok: ref}', async () => {
    const r = await startLink(sys, PROBE, { id: 'a' });
    assert.ok(typeof r === 'object' && 'ok' in r);
    assert.equal(await call(r.ok, 'get'), 0);
  });

  test('init - "ignore" ends the process quietly and startLink resolves "ignore"', async () => {
    const before = sys.processCount;
    assert.equal(await startLink(sys, initWith('ignore'), undefined), 'ignore');
    assert.equal(sys.processCount, before);
  });

  test('init - {stop: reason} fails the start with {error: reason}', async () => {
    assert.deepEqual(await startLink(sys, initWith({ stop: { exit: 'no_config' } }), undefined), { error: { exit: 'no_config' } });
  });

  test('init - a throw fails the start with {error} tagged {module, callback: "init"} and a stack', async () => {
    const r = await startLink(sys, PROBE, { id: 'x', initFails: true });
    assert.ok(typeof r === 'object' && 'error' in r);
    const reason = r.error as { error: { where: unknown; message: string; stack?: string } };
    assert.deepEqual(reason.error.where, { module: 'probe', callback: 'init' });
    assert.match(reason.error.message, /init of x failed/);
    assert.ok(reason.error.stack?.includes('init of x failed'));
  });

  test('init - an unknown return shape fails with {badReturn: {module, callback: "init"}}', async () => {
    const r = await startLink(sys, initWith(42), undefined);
    assert.deepEqual(r, { error: { badReturn: { module: 'init_probe', callback: 'init', got: 'number' } } });
  });

  test('init - an async init resolves before startLink does; messages sent meanwhile wait', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const beh: Behaviour<string[], void, { call: 'log'; reply: string[]; cast: string; info: never }> = {
      name: 'slow_init',
      async init() {
        await gate;
        return { ok: ['init'] };
      },
      handleCall: (_r, _f, s) => ({ reply: s, state: s }),
      handleCast: (m, s) => ({ noreply: [...s, m] }),
    };
    const pending = startLink(sys, beh, undefined);
    release();
    const ref = okRef(await pending);
    cast(ref, 'after');
    assert.deepEqual(await call(ref, 'log'), ['init', 'after']);
  });

  test('init - a registered name that is taken fails the start with {error: {exit: "already_started"}}', async () => {
    okRef(await startLink(sys, PROBE, { id: 'n1' }, { name: 'unique-1' }));
    assert.deepEqual(await startLink(sys, PROBE, { id: 'n2' }, { name: 'unique-1' }), { error: { exit: 'already_started' } });
  });
});

describe('gen_server messages', () => {
  test('call - {reply, state} answers the caller; cast and send reach handleCast and handleInfo in order', async () => {
    const beh: Behaviour<string[], void, { call: 'log'; reply: string[]; cast: string; info: string }> = {
      name: 'ordered',
      init: () => ({ ok: [] }),
      handleCall: (_r, _f, s) => ({ reply: s, state: s }),
      handleCast: (m, s) => ({ noreply: [...s, `cast:${m}`] }),
      handleInfo: (m, s) => ({ noreply: [...s, `info:${String(m)}`] }),
    };
    const ref = okRef(await startLink(sys, beh, undefined));
    cast(ref, '1');
    send(ref, '2');
    cast(ref, '3');
    assert.deepEqual(await call(ref, 'log'), ['cast:1', 'info:2', 'cast:3']);
  });

  test('call - {noreply} then reply(from, value) answers later', async () => {
    const beh: Behaviour<From<number> | undefined, void, { call: 'wait' | 'release'; reply: number | string; cast: never; info: never }> = {
      name: 'deferred',
      init: () => ({ ok: undefined }),
      handleCall(req, from, state) {
        if (req === 'wait') return { noreply: from as From<number> };
        reply(state!, 7);
        return { reply: 'released', state: undefined };
      },
    };
    const ref = okRef(await startLink(sys, beh, undefined));
    const waiting = call(ref, 'wait');
    assert.equal(await call(ref, 'release'), 'released');
    assert.equal(await waiting, 7);
  });

  test('call - a timeout is an error to the caller (PARLEY_ERR_CALL_TIMEOUT), not a hang', async () => {
    const beh: Behaviour<undefined, void> = { name: 'silent', init: () => ({ ok: undefined }), handleCall: (_r, _f, s) => ({ noreply: s }) };
    const ref = okRef(await startLink(sys, beh, undefined));
    await assert.rejects(call(ref, 'anything', 10), (e: unknown) => e instanceof CallError && e.code === 'PARLEY_ERR_CALL_TIMEOUT' && e.callReason === 'timeout');
  });

  test('call - to a dead process fails with PARLEY_ERR_CALL_NOPROC', async () => {
    const ref = okRef(await startLink(sys, PROBE, { id: 'dead' }));
    kill(ref);
    await assert.rejects(call(ref, 'get'), (e: unknown) => e instanceof CallError && e.code === 'PARLEY_ERR_CALL_NOPROC');
  });

  test('call - the callee exiting before it replies fails the call with PARLEY_ERR_CALL_EXIT and its reason', async () => {
    const ref = okRef(await startLink(sys, PROBE, { id: 'c' }));
    cast(ref, { crash: 'boom' });
    await assert.rejects(call(ref, 'get'), (e: unknown) => e instanceof CallError && e.code === 'PARLEY_ERR_CALL_EXIT' && typeof e.callReason === 'object' && 'error' in e.callReason);
  });

  test('call - a failed call escaping a callback crashes the caller with {callFailed: {reason, call}}', async () => {
    const target = okRef(await startLink(sys, PROBE, { id: 't' }));
    kill(target);
    const caller: Behaviour<undefined, void> = {
      name: 'caller',
      init: () => ({ ok: undefined }),
      async handleCast(_m, s) {
        await call(target, 'get');
        return { noreply: s };
      },
    };
    const ref = okRef(await start(sys, caller, undefined));
    const down = awaitExit(ref);
    cast(ref, 'go');
    assert.deepEqual(await down, { callFailed: { reason: 'noproc', call: ['call', target] } });
  });

  test('handleCall - {stop, reply, state} replies, then terminates', async () => {
    const log: string[] = [];
    const beh: Behaviour<undefined, void> = {
      name: 'stopper',
      init: () => ({ ok: undefined }),
      handleCall: (_r, _f, s) => ({ stop: 'normal', reply: 'bye', state: s }),
      terminate: (reason) => log.push(`terminate:${String(reason)}`),
    };
    const ref = okRef(await startLink(sys, beh, undefined));
    const down = awaitExit(ref);
    assert.equal(await call(ref, 'x'), 'bye');
    assert.equal(await down, 'normal');
    assert.deepEqual(log, ['terminate:normal']);
  });

  test('handleInfo - missing, plain messages are dropped and the process lives on', async () => {
    const ref = okRef(await startLink(sys, PROBE, { id: 'i' }));
    const noInfo = { ...PROBE, handleInfo: undefined };
    const ref2 = okRef(await startLink(sys, noInfo, { id: 'j' }));
    send(ref2, 'stray');
    assert.equal(await call(ref2, 'get'), 0);
    assert.equal(await call(ref, 'get'), 0);
  });

  test('async callback - a pending handler blocks the mailbox: later messages wait for it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const beh: Behaviour<string[], void, { call: 'log'; reply: string[]; cast: string; info: never }> = {
      name: 'async_order',
      init: () => ({ ok: [] }),
      async handleCast(m, s) {
        if (m === 'slow') await gate;
        return { noreply: [...s, m] };
      },
      handleCall: (_r, _f, s) => ({ reply: s, state: s }),
    };
    const ref = okRef(await startLink(sys, beh, undefined));
    cast(ref, 'slow');
    cast(ref, 'fast');
    const log = call(ref, 'log');
    release();
    assert.deepEqual(await log, ['slow', 'fast']);
  });
});

describe('gen_server exits', () => {
  test('crash - a throw in handleCast runs terminate with {error, where: handleCast} and exits with it', async () => {
    const log: string[] = [];
    const ref = okRef(await startLink(sys, PROBE, { id: 'k', log }));
    const down = awaitExit(ref);
    cast(ref, { crash: 'bad input' });
    const reason = (await down) as { error: { where: unknown } };
    assert.deepEqual(reason.error.where, { module: 'probe', callback: 'handleCast' });
    assert.deepEqual(log, ['init:k', 'terminate:k:error:bad input']);
  });

  test('crash - a bad return shape exits with {badReturn} naming the callback', async () => {
    const beh: Behaviour<undefined, void> = { name: 'liar', init: () => ({ ok: undefined }), handleCast: () => 'ok' as never };
    const ref = okRef(await startLink(sys, beh, undefined));
    const down = awaitExit(ref);
    cast(ref, 'x');
    assert.deepEqual(await down, { badReturn: { module: 'liar', callback: 'handleCast', got: "'ok'" } });
  });

  test('stop - stop(ref, reason) runs terminate after queued messages and resolves when the process is gone', async () => {
    const log: string[] = [];
    const ref = okRef(await startLink(sys, PROBE, { id: 's', log }));
    cast(ref, 'inc');
    const down = awaitExit(ref);
    await stop(ref, { shutdown: 'maintenance' });
    assert.deepEqual(await down, { shutdown: 'maintenance' });
    assert.deepEqual(log, ['init:s', 'terminate:s:{"shutdown":"maintenance"}']);
  });

  test('kill - terminate does not run on kill', async () => {
    const log: string[] = [];
    const ref = okRef(await startLink(sys, PROBE, { id: 'kk', log, trap: true }));
    const down = awaitExit(ref);
    kill(ref);
    assert.equal(await down, 'killed');
    assert.deepEqual(log, ['init:kk']);
  });

  test('exit reasons - {stop: reason} from a cast ends with exactly that reason', async () => {
    for (const reason of ['normal', 'shutdown', { shutdown: 'x' }, { exit: 'protocol_violation' }] as ExitReason[]) {
      const ref = okRef(await startLink(sys, PROBE, { id: 'r' } satisfies ProbeArgs));
      const down = awaitExit(ref);
      cast(ref, { stop: reason });
      assert.deepEqual(await down, reason);
    }
  });
});

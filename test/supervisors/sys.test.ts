import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ActorError,
  call,
  cast,
  changeCode,
  getState,
  getStatus,
  kill,
  okRef,
  resume,
  startLink,
  startSupervisor,
  suspend,
  whichChildren,
  worker,
  type Behaviour,
} from '../../supervisors/index.ts';
import { newSystem, PROBE } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());
const code = (c: string) => (e: unknown) => e instanceof ActorError && e.code === c;

type LogProtocol = { call: 'log'; reply: unknown; cast: string; info: never };

/** v1 keeps a list of strings. */
const V1: Behaviour<string[], void, LogProtocol> = {
  name: 'journal',
  vsn: 1,
  init: () => ({ ok: [] }),
  handleCall: (_r, _f, s) => ({ reply: s, state: s }),
  handleCast: (m, s) => ({ noreply: [...s, `v1:${m}`] }),
};

interface V2State {
  readonly entries: string[];
  readonly migratedFrom: unknown;
}

/** v2 keeps an object and tags entries differently. */
const V2: Behaviour<V2State, void, LogProtocol> = {
  name: 'journal',
  vsn: 2,
  init: () => ({ ok: { entries: [], migratedFrom: undefined } }),
  handleCall: (_r, _f, s) => ({ reply: s, state: s }),
  handleCast: (m, s) => ({ noreply: { ...s, entries: [...s.entries, `v2:${m}`] } }),
  codeChange: (oldVsn, state, extra) => ({ ok: { entries: [...(state as string[]), `migrated:${String(extra)}`], migratedFrom: oldVsn } }),
};

describe('sys suspend and resume', () => {
  test('suspend - messages sent before suspend are handled first; messages sent while suspended wait and follow in order after resume', async () => {
    const ref = okRef(await startLink(sys, V1, undefined));
    cast(ref, 'a');
    const suspended = suspend(ref);
    cast(ref, 'b');
    await suspended;
    cast(ref, 'c');
    assert.deepEqual(await getState(ref), ['v1:a'], 'system messages are still answered while suspended; b and c wait');
    assert.equal((await getStatus(ref)).status, 'suspended');
    assert.equal((await getStatus(ref)).mailboxLength, 2);
    await resume(ref);
    assert.deepEqual(await call(ref, 'log'), ['v1:a', 'v1:b', 'v1:c']);
  });

  test('suspend - a resume queued behind ordinary messages still reaches a suspended process', async () => {
    const ref = okRef(await startLink(sys, V1, undefined));
    const s = suspend(ref);
    cast(ref, 'x');
    const r = resume(ref);
    await s;
    await r;
    assert.deepEqual(await call(ref, 'log'), ['v1:x']);
  });
});

describe('sys hot code change', () => {
  test('changeCode - a suspended actor switches to the new version, migrating state through codeChange(oldVsn, state, extra), without losing queued messages', async () => {
    const ref = okRef(await startLink(sys, V1, undefined));
    cast(ref, 'before');
    await suspend(ref);
    cast(ref, 'queued-1');
    cast(ref, 'queued-2');
    await changeCode(ref, V2, 'release-2');
    await resume(ref);
    assert.deepEqual(await call(ref, 'log'), { entries: ['v1:before', 'migrated:release-2', 'v2:queued-1', 'v2:queued-2'], migratedFrom: 1 });
    assert.equal((await getStatus(ref)).vsn, 2);
  });

  test('changeCode - refused unless the process is suspended (PARLEY_ERR_NOT_SUSPENDED)', async () => {
    const ref = okRef(await startLink(sys, V1, undefined));
    await assert.rejects(changeCode(ref, V2, undefined), code('PARLEY_ERR_NOT_SUSPENDED'));
  });

  test('changeCode - a codeChange error keeps the old code and state (PARLEY_ERR_CODE_CHANGE)', async () => {
    const ref = okRef(await startLink(sys, V1, undefined));
    cast(ref, 'kept');
    await suspend(ref);
    await assert.rejects(changeCode(ref, { ...V2, codeChange: () => ({ error: 'incompatible' }) }, undefined), code('PARLEY_ERR_CODE_CHANGE'));
    await assert.rejects(
      changeCode(ref, {
        ...V2,
        codeChange: () => {
          throw new Error('migration bug');
        },
      }, undefined),
      code('PARLEY_ERR_CODE_CHANGE'),
    );
    await resume(ref);
    cast(ref, 'after');
    assert.deepEqual(await call(ref, 'log'), ['v1:kept', 'v1:after']);
  });
});

describe('sys introspection', () => {
  test('getStatus - reports behaviour, mailbox, handled count, restarts, links and a memory estimate', async () => {
    const sup = okRef(await startSupervisor(sys, { intensity: 5, children: [worker('p', PROBE, { id: 'p' })] }));
    const first = (await whichChildren(sup))[0]!.ref!;
    kill(first);
    const child = (await whichChildren(sup))[0]!.ref!;
    cast(child, 'inc');
    assert.equal(await call(child, 'get'), 1);
    const st = await getStatus(child);
    assert.equal(st.behaviour, 'probe');
    assert.equal(st.childId, 'p');
    assert.equal(st.restarts, 1);
    assert.equal(st.handled, 2);
    assert.equal(st.links, 1);
    assert.equal(st.status, 'waiting');
    assert.ok(st.memoryBytes > 1_000 && st.memoryBytes < 4_096);
    assert.ok(st.uptimeMs >= 0);
    assert.deepEqual(await getState(child), { id: 'p', count: 1, args: { id: 'p' } });
    await assert.rejects(getStatus({ node: sys.node, id: 999_999 }), code('PARLEY_ERR_NOPROC'));
    kill(sup);
  });
});

describe('scheduler', () => {
  test('scheduler - an actor that messages itself forever does not starve timers and I/O', async () => {
    const busy: Behaviour<number, void, { call: never; reply: never; cast: 'spin'; info: never }> = {
      name: 'spinner',
      init: () => ({ ok: 0 }),
      handleCast: (_m, n, ctx) => {
        cast(ctx.self, 'spin');
        return { noreply: n + 1 };
      },
    };
    const ref = okRef(await startLink(sys, busy, undefined));
    cast(ref, 'spin');
    await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok((await getState<number>(ref)) > 0);
    kill(ref);
  });
});

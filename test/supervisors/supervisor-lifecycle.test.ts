import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ActorError,
  awaitExit,
  cast,
  countChildren,
  deleteChild,
  kill,
  okRef,
  restartChild,
  startChild,
  startSupervisor,
  stop,
  terminateChild,
  whichChildren,
  worker,
  type Behaviour,
} from '../../supervisors/index.ts';
import { collectReports, newSystem, PROBE, refsById } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());

const code = (c: string) => (e: unknown) => e instanceof ActorError && e.code === c;

describe('supervisor start', () => {
  test('start - "children are started in the order of the child specification list", left to right', async () => {
    const log: string[] = [];
    const sup = okRef(await startSupervisor(sys, { children: ['a', 'b', 'c'].map((id) => worker(id, PROBE, { id, log })) }));
    assert.deepEqual(log, ['init:a', 'init:b', 'init:c']);
    kill(sup);
  });

  test('start - if a child fails to start, the started ones are terminated in reverse order and the start fails with {shutdown: {failedToStartChild}}', async () => {
    const log: string[] = [];
    const r = await startSupervisor(sys, {
      children: [worker('a', PROBE, { id: 'a', log, trap: true }), worker('b', PROBE, { id: 'b', log, trap: true }), worker('c', PROBE, { id: 'c', log, initFails: true }), worker('d', PROBE, { id: 'd', log })],
    });
    assert.deepEqual(log, ['init:a', 'init:b', 'init:c', 'terminate:b:shutdown', 'terminate:a:shutdown']);
    assert.ok(typeof r === 'object' && 'error' in r);
    const reason = r.error as { shutdown: { failedToStartChild: { id: string; reason: { error: { where: unknown } } } } };
    assert.equal(reason.shutdown.failedToStartChild.id, 'c');
    assert.deepEqual(reason.shutdown.failedToStartChild.reason.error.where, { module: 'probe', callback: 'init' });
  });

  test('start - an invalid spec is rejected with PARLEY_ERR_BAD_SPEC', async () => {
    await assert.rejects(startSupervisor(sys, { strategy: 'one_for_none' as never, children: [] }), code('PARLEY_ERR_BAD_SPEC'));
    await assert.rejects(startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a' }), worker('a', PROBE, { id: 'a' })] }), code('PARLEY_ERR_BAD_SPEC'));
    await assert.rejects(startSupervisor(sys, { children: [{ ...worker('a', PROBE, { id: 'a' }), shutdown: -1 }] }), code('PARLEY_ERR_BAD_SPEC'));
  });
});

describe('supervisor shutdown', () => {
  test('shutdown - children are terminated in reverse start order, terminate runs in children that trap exits', async () => {
    const log: string[] = [];
    const sup = okRef(await startSupervisor(sys, { children: ['a', 'b', 'c'].map((id) => worker(id, PROBE, { id, log, trap: true })) }));
    await stop(sup, 'shutdown');
    assert.deepEqual(log.slice(3), ['terminate:c:shutdown', 'terminate:b:shutdown', 'terminate:a:shutdown']);
  });

  test('shutdown - a child that does not trap exits is killed by the shutdown signal without running terminate (as OTP)', async () => {
    const log: string[] = [];
    const sup = okRef(await startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a', log })] }));
    const child = refsById(await whichChildren(sup)).get('a')!;
    const down = awaitExit(child);
    await stop(sup, 'shutdown');
    assert.equal(await down, 'shutdown');
    assert.deepEqual(log, ['init:a']);
  });

  test('shutdown - a child slower than its shutdown timeout is killed (shutdown_error report), and the next one is still shut down in order', async () => {
    const log: string[] = [];
    const reports = collectReports(sys);
    const hang = new Promise<void>(() => {});
    const sup = okRef(
      await startSupervisor(sys, {
        children: [worker('a', PROBE, { id: 'a', log, trap: true }), worker('slow', PROBE, { id: 'slow', log, trap: true, terminateWaits: hang }, { shutdown: 20 })],
      }),
    );
    const slow = refsById(await whichChildren(sup)).get('slow')!;
    const slowDown = awaitExit(slow);
    await stop(sup, 'shutdown');
    assert.equal(await slowDown, 'killed');
    assert.deepEqual(log.slice(2), ['terminate:a:shutdown']);
    assert.ok(reports.some((r) => r.kind === 'shutdown_error' && r.childId === 'slow' && r.reason === 'killed'));
  });

  test('shutdown - "infinity" waits for a slow terminate to finish', async () => {
    const log: string[] = [];
    let release!: () => void;
    const slowTerminate = new Promise<void>((r) => (release = r));
    const sup = okRef(await startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a', log, trap: true, terminateWaits: slowTerminate }, { shutdown: 'infinity' })] }));
    const child = refsById(await whichChildren(sup)).get('a')!;
    const childDown = awaitExit(child);
    const stopped = stop(sup, 'shutdown');
    const first = await Promise.race([childDown.then(() => 'child exited'), Promise.resolve().then(() => 'waiting')]);
    assert.equal(first, 'waiting');
    release();
    await stopped;
    assert.equal(await childDown, 'shutdown');
    assert.deepEqual(log, ['init:a', 'terminate:a:shutdown']);
  });

  test('shutdown - brutal_kill skips terminate even in a child that traps exits', async () => {
    const log: string[] = [];
    const sup = okRef(await startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a', log, trap: true }, { shutdown: 'brutal_kill' })] }));
    const child = refsById(await whichChildren(sup)).get('a')!;
    const down = awaitExit(child);
    await stop(sup, 'shutdown');
    assert.equal(await down, 'killed');
    assert.deepEqual(log, ['init:a']);
  });
});

describe('supervisor api', () => {
  test('api - startChild appends a child; the same id again is already started or already present', async () => {
    const sup = okRef(await startSupervisor(sys, { children: [] }));
    const ref = await startChild(sup, worker('a', PROBE, { id: 'a' }));
    assert.ok(ref !== undefined);
    await assert.rejects(startChild(sup, worker('a', PROBE, { id: 'a' })), code('PARLEY_ERR_CHILD_ALREADY_STARTED'));
    await terminateChild(sup, 'a');
    await assert.rejects(startChild(sup, worker('a', PROBE, { id: 'a' })), code('PARLEY_ERR_CHILD_ALREADY_PRESENT'));
    kill(sup);
  });

  test('api - a failing startChild throws PARLEY_ERR_START_CHILD with the reason and keeps no spec', async () => {
    const sup = okRef(await startSupervisor(sys, { children: [] }));
    await assert.rejects(startChild(sup, worker('bad', PROBE, { id: 'bad', initFails: true })), (e: unknown) => code('PARLEY_ERR_START_CHILD')(e) && typeof (e as ActorError).reason === 'object');
    assert.deepEqual(await whichChildren(sup), []);
    kill(sup);
  });

  test('api - terminateChild keeps the spec, restartChild starts it again, deleteChild removes it', async () => {
    const sup = okRef(await startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a' }), worker('b', PROBE, { id: 'b' })] }));
    await assert.rejects(restartChild(sup, 'a'), code('PARLEY_ERR_CHILD_RUNNING'));
    await assert.rejects(deleteChild(sup, 'a'), code('PARLEY_ERR_CHILD_RUNNING'));
    await terminateChild(sup, 'a');
    assert.equal(refsById(await whichChildren(sup)).get('a'), undefined);
    assert.deepEqual(await countChildren(sup), { specs: 2, active: 1, supervisors: 0, workers: 2 });
    const again = await restartChild(sup, 'a');
    assert.ok(again !== undefined);
    await terminateChild(sup, 'a');
    await deleteChild(sup, 'a');
    assert.deepEqual((await whichChildren(sup)).map((c) => c.id), ['b']);
    await assert.rejects(terminateChild(sup, 'zz'), code('PARLEY_ERR_CHILD_NOT_FOUND'));
    await assert.rejects(restartChild(sup, 'zz'), code('PARLEY_ERR_CHILD_NOT_FOUND'));
    kill(sup);
  });

  test('api - terminateChild of a temporary child also deletes its spec', async () => {
    const sup = okRef(await startSupervisor(sys, { children: [worker('t', PROBE, { id: 't' }, { restart: 'temporary' })] }));
    await terminateChild(sup, 't');
    assert.deepEqual(await whichChildren(sup), []);
    kill(sup);
  });

  test('api - a child whose start returns "ignore" keeps its spec, not running', async () => {
    const ignoring: Behaviour<unknown, void> = { name: 'ignoring', init: () => 'ignore' };
    const sup = okRef(await startSupervisor(sys, { children: [worker('i', ignoring, undefined)] }));
    assert.deepEqual(await whichChildren(sup), [{ id: 'i', ref: undefined, type: 'worker', restart: 'permanent' }]);
    kill(sup);
  });
});

describe('supervisor reports', () => {
  test('reports - start, crash (reason and stack, never the payload), child exit and restart are events with supervisor path and child id', async () => {
    const reports = collectReports(sys);
    const sup = okRef(await startSupervisor(sys, { intensity: 5, children: [worker('a', PROBE, { id: 'a' })] }));
    const child = refsById(await whichChildren(sup)).get('a')!;
    const down = awaitExit(child);
    cast(child, { crash: 'handler failed' });
    await down;
    await whichChildren(sup);
    const kinds = reports.filter((r) => r.childId === 'a').map((r) => r.kind);
    assert.deepEqual(kinds, ['started', 'crash', 'child_exited', 'restarted']);
    const crash = reports.find((r) => r.kind === 'crash')!;
    assert.match(crash.supervisor ?? '', /:\/\//);
    assert.ok(crash.stack?.includes('handler failed'));
    assert.deepEqual(crash.ref, child);
    assert.equal(crash.behaviour, 'probe');
    for (const r of reports) assert.ok(!JSON.stringify(r).includes('"crash":'), 'the crashing message itself is never in a report');
  });

  test('reports - shutdown of each child is reported', async () => {
    const reports = collectReports(sys);
    const sup = okRef(await startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a' }), worker('b', PROBE, { id: 'b' })] }));
    await stop(sup, 'shutdown');
    assert.deepEqual(
      reports.filter((r) => r.kind === 'shutdown').map((r) => r.childId),
      ['b', 'a'],
    );
  });
});

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ActorError,
  awaitExit,
  call,
  cast,
  countChildren,
  deleteChild,
  okRef,
  restartChild,
  startChild,
  startDynamicSupervisor,
  stop,
  terminateChild,
  whichChildren,
  worker,
  type Ref,
} from '../../supervisors/index.ts';
import { newSystem, PROBE } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());
const code = (c: string) => (e: unknown) => e instanceof ActorError && e.code === c;

async function started(sup: Ref, id: string, restart: 'permanent' | 'transient' | 'temporary' = 'permanent', log?: string[]): Promise<Ref> {
  const ref = await startChild(sup, worker(id, PROBE, { id, log, trap: log !== undefined }, { restart }));
  assert.ok(ref !== undefined);
  return ref;
}

describe('dynamic supervisor', () => {
  test('dynamic - startChild adds children; a crashed permanent child is restarted alone with a new ref', async () => {
    const sup = okRef(await startDynamicSupervisor(sys, { intensity: 5 }));
    const a = await started(sup, 'a');
    const b = await started(sup, 'b');
    const down = awaitExit(a);
    cast(a, { crash: 'x' });
    await down;
    const refs = (await whichChildren(sup)).map((c) => c.ref!.id);
    assert.equal(refs.length, 2);
    assert.ok(refs.includes(b.id));
    assert.ok(!refs.includes(a.id));
    await stop(sup);
  });

  test('dynamic - transient children are not restarted after a normal exit; temporary ones never', async () => {
    const sup = okRef(await startDynamicSupervisor(sys, { intensity: 5 }));
    const t = await started(sup, 't', 'transient');
    const tmp = await started(sup, 'tmp', 'temporary');
    const d1 = awaitExit(t);
    cast(t, { stop: 'normal' });
    await d1;
    const d2 = awaitExit(tmp);
    cast(tmp, { crash: 'x' });
    await d2;
    assert.deepEqual(await countChildren(sup), { specs: 0, active: 0, supervisors: 0, workers: 0 });
    await stop(sup);
  });

  test('dynamic - terminateChild(ref) shuts a child down and forgets it; restartChild/deleteChild are not supported', async () => {
    const log: string[] = [];
    const sup = okRef(await startDynamicSupervisor(sys));
    const a = await started(sup, 'a', 'permanent', log);
    await terminateChild(sup, a);
    assert.deepEqual(log, ['init:a', 'terminate:a:shutdown']);
    assert.deepEqual(await whichChildren(sup), []);
    await assert.rejects(terminateChild(sup, a), code('PARLEY_ERR_CHILD_NOT_FOUND'));
    await assert.rejects(restartChild(sup, 'a'), code('PARLEY_ERR_NOT_SUPPORTED'));
    await assert.rejects(deleteChild(sup, 'a'), code('PARLEY_ERR_NOT_SUPPORTED'));
    await stop(sup);
  });

  test('dynamic - maxChildren refuses one child too many with PARLEY_ERR_MAX_CHILDREN', async () => {
    const sup = okRef(await startDynamicSupervisor(sys, { maxChildren: 2 }));
    await started(sup, 'a');
    await started(sup, 'b');
    await assert.rejects(startChild(sup, worker('c', PROBE, { id: 'c' })), code('PARLEY_ERR_MAX_CHILDREN'));
    await stop(sup);
  });

  test('dynamic - exceeding intensity shuts every child down and exits shutdown', async () => {
    const sup = okRef(await startDynamicSupervisor(sys, { intensity: 1 }));
    const supDown = awaitExit(sup);
    const a = await started(sup, 'a');
    const b = await started(sup, 'b');
    const bDown = awaitExit(b);
    cast(a, { crash: 'one' });
    await call(sup, { op: 'countChildren' }, Infinity);
    const a2 = (await whichChildren(sup)).find((c) => c.ref!.id !== b.id)!.ref!;
    cast(a2, { crash: 'two' });
    assert.equal(await supDown, 'shutdown');
    assert.equal(await bDown, 'shutdown');
  });

  test('dynamic - stopping the supervisor shuts all children down, each running terminate if it traps exits', async () => {
    const log: string[] = [];
    const sup = okRef(await startDynamicSupervisor(sys));
    for (const id of ['a', 'b', 'c']) await started(sup, id, 'permanent', log);
    await stop(sup, 'shutdown');
    assert.deepEqual(log.filter((l) => l.startsWith('terminate')).sort(), ['terminate:a:shutdown', 'terminate:b:shutdown', 'terminate:c:shutdown']);
  });
});

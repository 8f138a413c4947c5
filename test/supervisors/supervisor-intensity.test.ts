import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  awaitExit,
  cast,
  countChildren,
  okRef,
  startSupervisor,
  supervisorChild,
  whichChildren,
  worker,
  type Ref,
} from '../../supervisors/index.ts';
import { collectReports, newSystem, PROBE, refsById } from './support.ts';

const { sys, clock } = newSystem();
after(() => sys.stop());

async function crash(sup: Ref, id: string): Promise<void> {
  const ref = refsById(await whichChildren(sup)).get(id)!;
  const down = awaitExit(ref);
  cast(ref, { crash: `crash of ${id}` });
  await down;
}

describe('supervisor intensity', () => {
  test('intensity - N crashes inside the period are restarted; crash N+1 escalates: children terminated in reverse start order, supervisor exits shutdown', async () => {
    const log: string[] = [];
    const reports = collectReports(sys);
    const sup = okRef(
      await startSupervisor(sys, {
        intensity: 3,
        period: 5,
        children: [worker('a', PROBE, { id: 'a', log, trap: true }), worker('b', PROBE, { id: 'b', log, trap: true }), worker('c', PROBE, { id: 'c', log, trap: true })],
      }),
    );
    const supDown = awaitExit(sup);
    for (let i = 0; i < 3; i++) {
      await crash(sup, 'b');
      clock.advance(1);
    }
    assert.equal((await countChildren(sup)).active, 3, 'three restarts in 3 s are within intensity 3 per 5 s');
    log.length = 0;
    await crash(sup, 'b');
    assert.equal(await supDown, 'shutdown');
    assert.deepEqual(log, ['terminate:b:error:crash of b', 'terminate:c:shutdown', 'terminate:a:shutdown'], 'b crashed (its terminate ran), then c and a were shut down in reverse start order');
    assert.ok(reports.some((r) => r.kind === 'max_intensity' && r.childId === 'b'));
  });

  test('intensity - N+1 crashes spread wider than the period do not escalate', async () => {
    const sup = okRef(await startSupervisor(sys, { intensity: 1, period: 5, children: [worker('a', PROBE, { id: 'a' })] }));
    for (let i = 0; i < 6; i++) {
      await crash(sup, 'a');
      clock.advance(6);
    }
    const children = await whichChildren(sup);
    assert.equal(children.length, 1);
    assert.ok(children[0]!.ref !== undefined);
  });

  test('intensity - OTP default is 1 restart in 5 s: the second crash in the same second escalates', async () => {
    const sup = okRef(await startSupervisor(sys, { children: [worker('a', PROBE, { id: 'a' })] }));
    const supDown = awaitExit(sup);
    await crash(sup, 'a');
    await crash(sup, 'a');
    assert.equal(await supDown, 'shutdown');
  });

  test('intensity - an escalating child supervisor exits shutdown "so its parent decides": a permanent one is restarted by its parent', async () => {
    const reports = collectReports(sys);
    const top = okRef(
      await startSupervisor(sys, {
        intensity: 5,
        children: [worker('x', PROBE, { id: 'x' }), supervisorChild('inner', { intensity: 0, children: [worker('w', PROBE, { id: 'w' })] })],
      }),
    );
    const before = refsById(await whichChildren(top));
    const inner = before.get('inner')!;
    const innerDown = awaitExit(inner);
    await crash(inner, 'w');
    assert.equal(await innerDown, 'shutdown');
    const after = refsById(await whichChildren(top));
    assert.notEqual(after.get('inner')!.id, inner.id, 'inner supervisor restarted');
    assert.equal(after.get('x')!.id, before.get('x')!.id, 'one_for_one sibling untouched');
    assert.equal((await countChildren(after.get('inner')!)).active, 1, 'the new inner supervisor started its children');
    assert.ok(reports.some((r) => r.kind === 'restarted' && r.childId === 'inner'));
  });

  test('intensity - a transient child supervisor that exits shutdown is not restarted (shutdown is a normal exit)', async () => {
    const top = okRef(
      await startSupervisor(sys, {
        intensity: 5,
        children: [supervisorChild('inner', { intensity: 0, children: [worker('w', PROBE, { id: 'w' })] }, { restart: 'transient' })],
      }),
    );
    const inner = refsById(await whichChildren(top)).get('inner')!;
    const innerDown = awaitExit(inner);
    await crash(inner, 'w');
    assert.equal(await innerDown, 'shutdown');
    assert.equal(refsById(await whichChildren(top)).get('inner'), undefined);
  });

  test('intensity - a child whose restart keeps failing is retried, each retry counted, until the supervisor escalates', async () => {
    let fail = false;
    const flaky = { ...PROBE, init: (args: { id: string }, ctx: Parameters<typeof PROBE.init>[1]) => (fail ? { stop: { exit: 'no_db' } as const } : PROBE.init(args, ctx)) };
    const reports = collectReports(sys);
    const sup = okRef(await startSupervisor(sys, { intensity: 3, children: [worker('f', flaky, { id: 'f' })] }));
    const supDown = awaitExit(sup);
    fail = true;
    await crash(sup, 'f');
    assert.equal(await supDown, 'shutdown');
    assert.equal(reports.filter((r) => r.kind === 'start_error' && r.childId === 'f').length, 3);
  });
});

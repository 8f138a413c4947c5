import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { awaitExit, call, kill, okRef, start, startLink, type Ref } from '../../supervisors/index.ts';
import { newSystem, PROBE } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());
const reg = sys.registry;

async function probe(id: string): Promise<Ref> {
  return okRef(await start(sys, PROBE, { id }));
}

describe('registry names', () => {
  test('registry - names are unique: a second register of the name, or a second name for the process, is refused', async () => {
    const a = await probe('a');
    const b = await probe('b');
    assert.equal(reg.register('svc', a), true);
    assert.equal(reg.register('svc', b), false);
    assert.equal(reg.register('svc2', a), false);
    assert.deepEqual(reg.whereis('svc'), a);
    assert.ok(reg.registered().includes('svc'));
    reg.unregister('svc');
    assert.equal(reg.whereis('svc'), undefined);
  });

  test('registry - a name disappears when its process exits', async () => {
    const a = await probe('a');
    reg.register('temp-name', a);
    const down = awaitExit(a);
    kill(a);
    await down;
    assert.equal(reg.whereis('temp-name'), undefined);
  });

  test('registry - a dead ref cannot be registered', async () => {
    const a = await probe('a');
    kill(a);
    assert.equal(reg.register('ghost', a), false);
  });

  test('registry - startLink({name}) registers before init; lookups by name reach the process', async () => {
    const ref = okRef(await startLink(sys, PROBE, { id: 'named' }, { name: 'counter' }));
    assert.deepEqual(reg.whereis('counter'), ref);
    assert.equal(await call(reg.whereis('counter')!, 'get'), 0);
    kill(ref);
  });

  test('registry - refs are plain serialisable values: a JSON round trip still addresses the process', async () => {
    const a = await probe('json');
    const copy = JSON.parse(JSON.stringify(a)) as Ref;
    assert.deepEqual(Object.keys(copy).sort(), ['id', 'node']);
    assert.equal(await call(copy, 'get'), 0);
  });
});

describe('registry groups', () => {
  test('groups - join, members in join order, leave', async () => {
    const a = await probe('a');
    const b = await probe('b');
    reg.join('room', a);
    reg.join('room', b);
    reg.join('room', a);
    assert.deepEqual(reg.members('room'), [a, b]);
    assert.ok(reg.whichGroups().includes('room'));
    reg.leave('room', a);
    assert.deepEqual(reg.members('room'), [b]);
    reg.leave('room', b);
    assert.deepEqual(reg.members('room'), []);
    assert.ok(!reg.whichGroups().includes('room'));
  });

  test('groups - a process leaves all its groups when it exits', async () => {
    const a = await probe('a');
    const b = await probe('b');
    reg.join('g1', a);
    reg.join('g2', a);
    reg.join('g1', b);
    const down = awaitExit(a);
    kill(a);
    await down;
    assert.deepEqual(reg.members('g1'), [b]);
    assert.deepEqual(reg.members('g2'), []);
  });
});

describe('system', () => {
  test('system - stop() shuts linked top-level trees down, kills unlinked processes (even trapping ones), and leaves no process', async () => {
    const { sys: other } = newSystem();
    const log: string[] = [];
    const linked = okRef(await startLink(other, PROBE, { id: 'linked', log, trap: true }));
    const unlinked = okRef(await start(other, PROBE, { id: 'unlinked', log, trap: true }));
    const downs = [awaitExit(linked), awaitExit(unlinked)];
    await other.stop();
    assert.deepEqual(await Promise.all(downs), ['shutdown', 'killed']);
    assert.deepEqual(log, ['init:linked', 'init:unlinked', 'terminate:linked:shutdown']);
    assert.equal(other.processCount, 0);
  });
});

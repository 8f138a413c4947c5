import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  awaitExit,
  cast,
  countPartitionedChildren,
  partitionFor,
  startPartitionedChild,
  startPartitionedSupervisor,
  terminatePartitionedChild,
  whichChildren,
  whichPartitionedChildren,
  worker,
  type Ref,
} from '../../supervisors/index.ts';
import { newSystem, PROBE } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());

describe('partitioned supervisor', () => {
  test('partitioned - a key always maps to the same partition; children spread over the partitions', async () => {
    const ps = await startPartitionedSupervisor(sys, { name: 'sessions-a', partitions: 4 });
    assert.deepEqual(partitionFor(ps, 'device-42'), partitionFor(ps, 'device-42'));
    for (let i = 0; i < 40; i++) await startPartitionedChild(ps, worker(`s${i}`, PROBE, { id: `s${i}` }), `device-${i}`);
    const counts = await countPartitionedChildren(ps);
    assert.equal(counts.active, 40);
    const perPartition = await Promise.all([0, 1, 2, 3].map((i) => whichChildren(sys.registry.whereis(`sessions-a/${i}`)!)));
    assert.ok(perPartition.every((c) => c.length > 0 && c.length < 40), 'every partition holds some, none holds all');
  });

  test('partitioned - terminatePartitionedChild finds the child in its partition', async () => {
    const ps = await startPartitionedSupervisor(sys, { name: 'sessions-b', partitions: 3 });
    const ref = (await startPartitionedChild(ps, worker('x', PROBE, { id: 'x' })))!;
    await terminatePartitionedChild(ps, ref);
    assert.equal((await countPartitionedChildren(ps)).active, 0);
  });

  test('partitioned - a restart storm escalates only its partition: the outer supervisor restarts it, other partitions keep their children', async () => {
    const ps = await startPartitionedSupervisor(sys, { name: 'sessions-c', partitions: 2, intensity: 0 });
    const p0 = sys.registry.whereis('sessions-c/0')!;
    const inP0: Ref[] = [];
    const inP1: Ref[] = [];
    for (let i = 0; inP0.length < 2 || inP1.length < 2; i++) {
      const key = `k${i}`;
      const ref = (await startPartitionedChild(ps, worker(key, PROBE, { id: key }), key))!;
      (partitionFor(ps, key).id === p0.id ? inP0 : inP1).push(ref);
    }
    const p0Down = awaitExit(p0);
    cast(inP0[0]!, { crash: 'storm' });
    assert.equal(await p0Down, 'shutdown');
    const all = (await whichPartitionedChildren(ps)).map((c) => c.ref!.id);
    for (const r of inP1) assert.ok(all.includes(r.id), 'partition 1 children untouched');
    for (const r of inP0) assert.ok(!all.includes(r.id), 'partition 0 children went down with it');
    assert.notEqual(sys.registry.whereis('sessions-c/0')!.id, p0.id, 'partition 0 restarted under its name');
  });
});

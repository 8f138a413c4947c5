import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { awaitExit, call, cast, countPartitionedChildren, startPartitionedChild, startPartitionedSupervisor, worker, type Ref } from '../../supervisors/index.ts';
import { newSystem, PROBE, prng } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());

test('isolation - 10,000 actors with state; 100 crash at random; the other 9,900 keep their state and their queued messages', async () => {
  const N = 10_000;
  const ps = await startPartitionedSupervisor(sys, { name: 'iso', partitions: 8, intensity: 1_000 });
  const refs: Ref[] = [];
  for (let i = 0; i < N; i++) refs.push((await startPartitionedChild(ps, worker(`w${i}`, PROBE, { id: `w${i}` }), i))!);
  const random = prng(20_260_101);
  const doomed = new Set<number>();
  while (doomed.size < 100) doomed.add(Math.floor(random() * N));
  // Every actor gets state, then (for the doomed) a crash, then more queued messages,
  // all in one synchronous burst: when a crash is handled, the others' mailboxes are full.
  for (let i = 0; i < N; i++) cast(refs[i]!, 'inc');
  const downs: Promise<unknown>[] = [];
  for (const i of doomed) {
    downs.push(awaitExit(refs[i]!));
    cast(refs[i]!, { crash: 'chosen' });
  }
  for (let i = 0; i < N; i++) {
    cast(refs[i]!, 'inc');
    cast(refs[i]!, 'inc');
  }
  await Promise.all(downs);
  for (let i = 0; i < N; i++) {
    if (doomed.has(i)) continue;
    assert.equal(await call(refs[i]!, 'get'), 3, `actor ${i} kept its state and its queued messages`);
  }
  const counts = await countPartitionedChildren(ps);
  assert.equal(counts.active, N, 'the 100 were restarted');
});

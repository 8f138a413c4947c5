/**
 * The concept grid of OTP's supervisor_SUITE: strategy × restart type × exit
 * reason. Three children a, b, c; b has the restart type under test and exits
 * with the reason under test; a and c are permanent. Each cell checks whether b
 * comes back and which siblings were restarted.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  awaitExit,
  cast,
  kill,
  okRef,
  startSupervisor,
  whichChildren,
  worker,
  type ExitReason,
  type Ref,
  type RestartType,
  type Strategy,
} from '../../supervisors/index.ts';
import { newSystem, PROBE, refsById } from './support.ts';

const { sys } = newSystem();
after(() => sys.stop());

const REASONS: readonly { name: string; reason: ExitReason | 'kill'; abnormal: boolean }[] = [
  { name: 'normal', reason: 'normal', abnormal: false },
  { name: 'shutdown', reason: 'shutdown', abnormal: false },
  { name: '{shutdown, term}', reason: { shutdown: 'drain' }, abnormal: false },
  { name: 'crash (exception)', reason: { exit: 'thrown' }, abnormal: true },
  { name: 'killed', reason: 'kill', abnormal: true },
];

const RULE: Record<RestartType, string> = {
  permanent: 'a permanent child process is always restarted',
  transient: 'a transient child process is restarted only if it terminates abnormally, i.e. not with normal, shutdown or {shutdown,Term}',
  temporary: 'a temporary child process is never restarted',
};

const SIBLINGS: Record<Strategy, string> = {
  one_for_one: 'one_for_one: only that child is restarted',
  one_for_all: 'one_for_all: all other children are terminated and then all restarted',
  rest_for_one: 'rest_for_one: the children started after it are terminated and restarted with it',
};

async function exitWith(ref: Ref, reason: ExitReason | 'kill'): Promise<void> {
  const down = awaitExit(ref);
  if (reason === 'kill') kill(ref);
  else if (typeof reason === 'object' && 'exit' in reason) cast(ref, { crash: reason.exit });
  else cast(ref, { stop: reason });
  await down;
}

for (const strategy of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
  describe(`supervisor grid ${strategy}`, () => {
    for (const restart of ['permanent', 'transient', 'temporary'] as const) {
      for (const { name, reason, abnormal } of REASONS) {
        const restarted = restart === 'permanent' || (restart === 'transient' && abnormal);
        test(`${strategy} × ${restart} × ${name} - "${RULE[restart]}"${restarted ? `; "${SIBLINGS[strategy]}"` : '; siblings untouched'}`, async () => {
          const sup = okRef(
            await startSupervisor(sys, {
              strategy,
              intensity: 10,
              children: [worker('a', PROBE, { id: 'a' }), worker('b', PROBE, { id: 'b' }, { restart }), worker('c', PROBE, { id: 'c' })],
            }),
          );
          const before = refsById(await whichChildren(sup));
          await exitWith(before.get('b')!, reason);
          const now = await whichChildren(sup); // queued after the EXIT, so the restart is done
          const byId = refsById(now);
          if (restart === 'temporary') assert.deepEqual([...byId.keys()], ['a', 'c'], 'a temporary child spec is deleted when it exits');
          else if (!restarted) assert.equal(byId.get('b'), undefined, 'the spec stays, not running');
          else {
            assert.ok(byId.get('b') !== undefined && byId.get('b')!.id !== before.get('b')!.id, 'b restarted with a new ref');
          }
          const aSame = byId.get('a')!.id === before.get('a')!.id;
          const cSame = byId.get('c')!.id === before.get('c')!.id;
          if (!restarted || strategy === 'one_for_one') assert.deepEqual([aSame, cSame], [true, true]);
          else if (strategy === 'one_for_all') assert.deepEqual([aSame, cSame], [false, false]);
          else assert.deepEqual([aSame, cSame], [true, false]);
          assert.deepEqual(
            now.map((c) => c.id),
            restart === 'temporary' ? ['a', 'c'] : ['a', 'b', 'c'],
            'start order is kept',
          );
          kill(sup);
        });
      }
    }
  });
}

describe('supervisor grid temporary siblings', () => {
  for (const strategy of ['one_for_all', 'rest_for_one'] as const) {
    test(`${strategy} - "a temporary child is never restarted", even when a sibling's restart takes it down`, async () => {
      const sup = okRef(
        await startSupervisor(sys, {
          strategy,
          intensity: 10,
          children: [worker('a', PROBE, { id: 'a' }), worker('t', PROBE, { id: 't' }, { restart: 'temporary' }), worker('c', PROBE, { id: 'c' })],
        }),
      );
      const before = refsById(await whichChildren(sup));
      const tDown = awaitExit(before.get('t')!);
      await exitWith(before.get('a')!, { exit: 'x' });
      assert.equal(await tDown, 'shutdown');
      const now = await whichChildren(sup);
      assert.deepEqual(
        now.map((c) => c.id),
        ['a', 'c'],
      );
      assert.ok(now.every((c) => c.ref !== undefined));
      kill(sup);
    });
  }
});

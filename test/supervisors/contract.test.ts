import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ACTOR_ERROR_CODES, addRestart, intensityExceeded } from '../../supervisors/index.ts';

const here = new URL('../../supervisors/', import.meta.url);

test('contract - the behaviour header table names exactly the methods of the Behaviour interface', () => {
  const src = readFileSync(new URL('behaviour.ts', here), 'utf8');
  const header = src.slice(0, src.indexOf('*/'));
  const tableNames = [...header.matchAll(/^ \* \| (\w+)\(/gm)].map((m) => m[1]);
  const body = src.slice(src.indexOf('export interface Behaviour<'));
  const iface = body.slice(0, body.indexOf('\n}'));
  const methodNames = [...iface.matchAll(/^ {2}(\w+)\??\(/gm)].map((m) => m[1]);
  assert.ok(tableNames.length >= 6, 'table parsed');
  assert.deepEqual([...tableNames].sort(), [...methodNames].sort());
});

test('contract - every error code is documented in supervisors/README.md', () => {
  const readme = readFileSync(new URL('README.md', here), 'utf8');
  for (const code of ACTOR_ERROR_CODES) assert.ok(readme.includes(`\`${code}\``), `${code} missing from README`);
});

test('restart intensity - addRestart keeps restarts inside [now - period, now], newest first', () => {
  assert.deepEqual(addRestart([], 10, 5), [10]);
  assert.deepEqual(addRestart([9, 7, 5, 4], 10, 5), [10, 9, 7, 5]);
  assert.deepEqual(addRestart([3, 2], 10, 5), [10]);
});

test('restart intensity - the window is inclusive at now - period, as OTP R >= Threshold', () => {
  assert.deepEqual(addRestart([5], 10, 5), [10, 5]);
  assert.deepEqual(addRestart([4.999], 10, 5), [10]);
});

test('restart intensity - "more than MaxR restarts in MaxT seconds" terminates: N restarts pass, N+1 exceed', () => {
  let r: number[] = [];
  for (let i = 0; i < 3; i++) r = addRestart(r, 100, 5);
  assert.equal(intensityExceeded(r, 3), false);
  r = addRestart(r, 100, 5);
  assert.equal(intensityExceeded(r, 3), true);
});

test('restart intensity - restarts spread wider than the period never exceed', () => {
  let r: number[] = [];
  for (let i = 0; i < 50; i++) {
    r = addRestart(r, i * 6, 5);
    assert.equal(intensityExceeded(r, 1), false);
  }
});

test('restart intensity - a limit of intensity + 1 keeps the same verdict with a bounded list', () => {
  let full: number[] = [];
  let capped: number[] = [];
  for (let i = 0; i < 20; i++) {
    full = addRestart(full, 100 + i * 0.1, 5);
    capped = addRestart(capped, 100 + i * 0.1, 5, 4);
    assert.ok(capped.length <= 4);
    assert.equal(intensityExceeded(capped, 3), intensityExceeded(full, 3));
  }
  assert.deepEqual(addRestart([9, 8, 7, 6], 10, 5, 2), [10, 9]);
});

test('restart intensity - intensity 0 means the first restart exceeds', () => {
  assert.equal(intensityExceeded(addRestart([], 1, 5), 0), true);
});

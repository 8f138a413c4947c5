import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameKind, INITIAL_STATE, authResult, isAuthenticated, nextState } from '../../protocol/index.ts';

test('protocol - state: hello must come first', () => {
  assert.equal(INITIAL_STATE, 'awaiting-hello');
  assert.deepEqual(nextState('awaiting-hello', FrameKind.Send), { ok: false, state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' });
  assert.deepEqual(nextState('awaiting-hello', FrameKind.Auth), { ok: false, state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' });
  assert.deepEqual(nextState('awaiting-hello', FrameKind.Hello), { ok: true, state: 'awaiting-auth' });
});

test('protocol - state: login path hello → auth → ready', () => {
  let s = nextState(INITIAL_STATE, FrameKind.Hello).state;
  assert.deepEqual(nextState(s, FrameKind.Ping), { ok: true, state: 'awaiting-auth' });
  s = nextState(s, FrameKind.Auth).state;
  assert.equal(s, 'authenticating');
  assert.deepEqual(nextState(s, FrameKind.Send), { ok: false, state: 'authenticating', code: 'PARLEY_ERR_NOT_AUTHENTICATED' });
  assert.deepEqual(nextState(s, FrameKind.Auth), { ok: false, state: 'authenticating', code: 'PARLEY_ERR_OUT_OF_ORDER' });
  assert.equal(isAuthenticated(s), false);
  s = authResult(s, true).state;
  assert.equal(s, 'ready');
  assert.equal(isAuthenticated(s), true);
  for (const k of [FrameKind.Send, FrameKind.Ack, FrameKind.Receipt, FrameKind.PreKeyUpload, FrameKind.PreKeyFetch, FrameKind.LinkDevice, FrameKind.Ping]) {
    assert.deepEqual(nextState(s, k), { ok: true, state: 'ready' });
  }
});

test('protocol - state: register path and failed authentication closes', () => {
  const s = nextState('awaiting-auth', FrameKind.Register).state;
  assert.equal(s, 'authenticating');
  assert.deepEqual(authResult(s, false), { ok: true, state: 'closed' });
  assert.deepEqual(nextState('closed', FrameKind.Ping), { ok: false, state: 'closed', code: 'PARLEY_ERR_OUT_OF_ORDER' });
});

test('protocol - state: no client frame can authenticate a connection', () => {
  for (const kind of [FrameKind.Welcome, FrameKind.Ok, FrameKind.Deliver, FrameKind.Challenge]) {
    assert.deepEqual(nextState('authenticating', kind), { ok: false, state: 'authenticating', code: 'PARLEY_ERR_UNEXPECTED_FRAME' });
  }
  assert.deepEqual(authResult('awaiting-auth', true), { ok: false, state: 'awaiting-auth', code: 'PARLEY_ERR_OUT_OF_ORDER' });
  assert.deepEqual(nextState('ready', 99), { ok: false, state: 'ready', code: 'PARLEY_ERR_UNEXPECTED_FRAME' });
});

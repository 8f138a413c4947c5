import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, NO_VIOLATIONS, recordViolation, type ViolationRecord } from '../../protocol/index.ts';

test('protocol - violations: gross violations close at once with their own close code', () => {
  const cases = [
    ['PARLEY_ERR_MALFORMED_FRAME', CloseCode.ProtocolViolation],
    ['PARLEY_ERR_FRAME_TOO_LARGE', CloseCode.FrameTooLarge],
    ['PARLEY_ERR_UNSUPPORTED_VERSION', CloseCode.UnsupportedVersion],
    ['PARLEY_ERR_AUTH_FAILED', CloseCode.AuthFailed],
    ['PARLEY_ERR_UNEXPECTED_FRAME', CloseCode.ProtocolViolation],
  ] as const;
  for (const [code, close] of cases) {
    const r = recordViolation(NO_VIOLATIONS, code, 0, true);
    assert.equal(r.action, 'close', code);
    assert.equal(r.action === 'close' && r.closeCode, close, code);
  }
});

test('protocol - violations: any violation before authentication closes', () => {
  const r = recordViolation(NO_VIOLATIONS, 'PARLEY_ERR_NOT_AUTHENTICATED', 0, false);
  assert.deepEqual(r.action === 'close' && [r.closeCode, r.code], [CloseCode.ProtocolViolation, 'PARLEY_ERR_NOT_AUTHENTICATED']);
});

test('protocol - violations: repeated minor violations close after maxViolations within the window', () => {
  let rec: ViolationRecord = NO_VIOLATIONS;
  for (let i = 0; i < 10; i++) {
    const r = recordViolation(rec, 'PARLEY_ERR_INVALID_FIELD', i * 1000, true);
    assert.equal(r.action, 'error', `violation ${i + 1}`);
    rec = r.record;
  }
  const eleventh = recordViolation(rec, 'PARLEY_ERR_PAYLOAD_TOO_LARGE', 10_000, true);
  assert.equal(eleventh.action, 'close');
  assert.equal(eleventh.action === 'close' && eleventh.code, 'PARLEY_ERR_TOO_MANY_VIOLATIONS');
  assert.equal(eleventh.action === 'close' && eleventh.closeCode, CloseCode.ProtocolViolation);
  // the same count spread beyond the window is tolerated
  const later = recordViolation(rec, 'PARLEY_ERR_INVALID_FIELD', 70_000, true);
  assert.equal(later.action, 'error');
  assert.ok(later.record.times.length <= 10);
});

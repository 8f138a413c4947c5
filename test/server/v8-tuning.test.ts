/** server/v8-tuning.ts: a node turns allocation-site pretenuring off unless the operator chose either way. */
import assert from 'node:assert/strict';
import test from 'node:test';
import { v8FlagsFor } from '../../server/v8-tuning.ts';

test('v8 tuning - pretenuring goes off by default; an explicit choice on node\'s command line is kept', () => {
  assert.deepEqual(v8FlagsFor([]), ['--no-allocation-site-pretenuring']);
  assert.deepEqual(v8FlagsFor(['--enable-source-maps', '--max-old-space-size=4096']), ['--no-allocation-site-pretenuring']);
  assert.deepEqual(v8FlagsFor(['--allocation-site-pretenuring']), []);
  assert.deepEqual(v8FlagsFor(['--max-old-space-size=512', '--allocation_site_pretenuring']), []);
  assert.deepEqual(v8FlagsFor(['--no-allocation-site-pretenuring']), []);
  // A flag that only contains the words is not a choice.
  assert.deepEqual(v8FlagsFor(['--trace-allocation-site-pretenuring-x']), ['--no-allocation-site-pretenuring']);
});

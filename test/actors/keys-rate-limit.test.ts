import { test } from 'node:test';
import assert from 'node:assert/strict';
import { takeTokens, type TokenBucket } from '../../actors/keys-service.ts';

// A pure token bucket over a caller-supplied clock: no timers, as OTP's restart intensity.
const CAPACITY = 100;
const PER_MINUTE = 60; // one token per second

test('keys rate limit - a new requester starts with a full bucket and may spend it all at once', () => {
  let bucket: TokenBucket | undefined;
  for (let i = 0; i < CAPACITY; i++) {
    const r = takeTokens(bucket, 1, 0, CAPACITY, PER_MINUTE);
    assert.equal(r.allowed, true, `take ${i}`);
    bucket = r.bucket;
  }
  const refused = takeTokens(bucket, 1, 0, CAPACITY, PER_MINUTE);
  assert.equal(refused.allowed, false, 'the 101st take at the same instant is refused');
  assert.equal(refused.bucket.tokens, 0, 'a refused take spends nothing');
});

test('keys rate limit - tokens come back at the configured rate and never beyond capacity', () => {
  const empty: TokenBucket = { tokens: 0, at: 0 };
  assert.equal(takeTokens(empty, 1, 999, CAPACITY, PER_MINUTE).allowed, false, 'not yet a whole token after 999 ms');
  assert.equal(takeTokens(empty, 1, 1000, CAPACITY, PER_MINUTE).allowed, true, 'one token after one second');
  const r = takeTokens(empty, 5, 5000, CAPACITY, PER_MINUTE);
  assert.equal(r.allowed, true);
  assert.equal(r.bucket.tokens, 0);
  const later = takeTokens(empty, 1, 24 * 3600 * 1000, CAPACITY, PER_MINUTE);
  assert.equal(later.bucket.tokens, CAPACITY - 1, 'a day later the bucket holds capacity, not more');
});

test('keys rate limit - a multi-device fetch costs one token per bundle', () => {
  const bucket: TokenBucket = { tokens: 3, at: 0 };
  assert.equal(takeTokens(bucket, 4, 0, CAPACITY, PER_MINUTE).allowed, false, '4 bundles with 3 tokens: refused');
  const ok = takeTokens(bucket, 3, 0, CAPACITY, PER_MINUTE);
  assert.equal(ok.allowed, true);
  assert.equal(ok.bucket.tokens, 0);
});

test('keys rate limit - a clock that goes backwards refills nothing', () => {
  const bucket: TokenBucket = { tokens: 0, at: 10_000 };
  const r = takeTokens(bucket, 1, 5_000, CAPACITY, PER_MINUTE);
  assert.equal(r.allowed, false);
  assert.equal(r.bucket.tokens, 0);
});

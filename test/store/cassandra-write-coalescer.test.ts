/**
 * WriteCoalescer's own contract (store/cassandra/write-coalescer.ts), with
 * an in-process sender that records what would go to Cassandra: the flush
 * rule (end of turn, row cap, byte cap, a big row alone), and that a failure
 * is reported only after every request carrying the caller's rows settled.
 * The same class against a real node: cassandra-write-batching.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteCoalescer, type CoalescedRow, type CoalescedWriteSender } from '../../store/cassandra/write-coalescer.ts';

interface Sent {
  readonly kind: 'one' | 'batch';
  readonly queries: string[];
  settle(err?: Error): void;
}

/** A sender whose requests stay pending until the test settles them. */
function recordingSender(): CoalescedWriteSender & { sent: Sent[] } {
  const sent: Sent[] = [];
  const request = (kind: Sent['kind'], queries: string[]) =>
    new Promise<unknown>((resolve, reject) => sent.push({ kind, queries, settle: (err) => (err ? reject(err) : resolve(undefined)) }));
  return {
    sent,
    one: (query) => request('one', [query]),
    batch: (queries) => request('batch', queries.map((q) => q.query)),
  };
}

const row = (query: string, bytes = 100): CoalescedRow => ({ query, params: [], bytes });
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('WriteCoalescer - rows written in one turn leave as one batch at the end of the turn', async () => {
  const sender = recordingSender();
  const w = new WriteCoalescer(sender, { maxRows: 10, maxBytes: 5000 });
  const a = w.write([row('a1'), row('a2')]);
  const b = w.write([row('b1')]);
  assert.equal(sender.sent.length, 0, 'nothing sent before the turn ends');
  await turn();
  assert.deepEqual(sender.sent.map((s) => [s.kind, s.queries]), [['batch', ['a1', 'a2', 'b1']]]);
  sender.sent[0]!.settle();
  await Promise.all([a, b]);
  const c = w.write([row('c1')]);
  await turn();
  assert.deepEqual(sender.sent[1]!.kind, 'one', 'a batch of one row goes as a plain statement');
  sender.sent[1]!.settle();
  await c;
});

test('WriteCoalescer - a full batch goes at once; the byte cap splits; a row above it goes alone', async () => {
  const sender = recordingSender();
  const w = new WriteCoalescer(sender, { maxRows: 3, maxBytes: 1000 });
  const writes = [w.write([row('r1'), row('r2'), row('r3'), row('r4')])];
  assert.deepEqual(sender.sent.map((s) => s.queries), [['r1', 'r2', 'r3']], 'the row cap flushes without waiting for the turn');
  writes.push(w.write([row('x', 800), row('y', 300), row('huge', 1001)]));
  assert.deepEqual(
    sender.sent.map((s) => [s.kind, s.queries]),
    [['batch', ['r1', 'r2', 'r3']], ['batch', ['r4', 'x']], ['one', ['huge']]],
    'r4 + x fill 900 bytes, y would pass 1000: that batch leaves, y opens the next; huge goes alone at once',
  );
  await turn();
  assert.deepEqual(sender.sent[3]!.queries, ['y']);
  for (const s of sender.sent) s.settle();
  await Promise.all(writes);
});

test('WriteCoalescer - maxRows 1 sends every row alone, at once', () => {
  const sender = recordingSender();
  const w = new WriteCoalescer(sender, { maxRows: 1, maxBytes: 5000 });
  void w.write([row('a'), row('b')]);
  assert.deepEqual(sender.sent.map((s) => [s.kind, s.queries]), [['one', ['a']], ['one', ['b']]]);
  for (const s of sender.sent) s.settle();
});

test('WriteCoalescer - a failed request fails every caller with a row in it, each only after all its requests settled', async () => {
  const sender = recordingSender();
  const w = new WriteCoalescer(sender, { maxRows: 2, maxBytes: 5000 });
  let aDone = false;
  const a = w.write([row('a1'), row('shared-a')]).finally(() => (aDone = true));
  const b = w.write([row('shared-b'), row('b2')]);
  await turn();
  // requests: [a1, shared-a], [shared-b, b2]
  assert.deepEqual(sender.sent.map((s) => s.queries), [['a1', 'shared-a'], ['shared-b', 'b2']]);
  sender.sent[1]!.settle(new Error('lost'));
  await assert.rejects(b, /lost/);
  sender.sent[0]!.settle(new Error('timed out'));
  await assert.rejects(a, /timed out/);
  assert.ok(aDone);

  const c = w.write([row('c1'), row('c2'), row('c3')]); // two requests: [c1, c2] now, [c3] at the turn's end
  await turn();
  let cSettled = false;
  void c.then(
    () => (cSettled = true),
    () => (cSettled = true),
  );
  sender.sent[2]!.settle(new Error('first failed'));
  await turn();
  assert.equal(cSettled, false, 'still waiting for the other request carrying its rows');
  sender.sent[3]!.settle();
  await assert.rejects(c, /first failed/);
});

test('WriteCoalescer - limits must be positive integers', () => {
  const sender = recordingSender();
  assert.throws(() => new WriteCoalescer(sender, { maxRows: 0, maxBytes: 10 }), RangeError);
  assert.throws(() => new WriteCoalescer(sender, { maxRows: 2, maxBytes: 1.5 }), RangeError);
});

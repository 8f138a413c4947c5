import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GcTrace } from '../../bench/lib/gc-trace.ts';

/** A `--trace-gc-nvp` line as V8 prints it (fields cut down to those read, plus a few it ignores). */
const scavenge = (isolate: string, pause: number, promoted: number, survived: number, allocated: number) =>
  `[4242:${isolate}]     8108 ms: pause=${pause} mutator=110.2 gc=s reduce_memory=0 time_to_safepoint=0.00 scavenge=${pause} ` +
  `total_size_before=106960504 allocated=${allocated} promoted=${promoted} new_space_survived=${survived} promotion_rate=94.3%\n`;
const markCompact = (isolate: string, pause: number) =>
  `[4242:${isolate}]      366 ms: pause=${pause} mutator=4.6 gc=mc reduce_memory=0 mark=3.2 total_size_before=1000\n`;

const MAIN = '0x288099f0';
const WORKER = '0x7f26ac000f00';

test('gc-trace - summarises the busiest isolate over the measured interval only', () => {
  const gc = new GcTrace();
  gc.feed(scavenge(MAIN, 9, 9e6, 9e6, 9e6)); // before measuring: ignored
  gc.measuring = true;
  const text = [
    scavenge(MAIN, 4, 1_000_000, 500_000, 12_000_000),
    scavenge(WORKER, 0.5, 0, 1_000, 1_000_000),
    'parley node listening: some other output\n',
    scavenge(MAIN, 2, 500_000, 300_000, 14_000_000),
    markCompact(MAIN, 8.4),
    markCompact(MAIN, 1.6),
  ].join('');
  // Fed in chunks cut anywhere, as a pipe delivers them.
  for (let i = 0; i < text.length; i += 37) gc.feed(text.slice(i, i + 37));
  gc.measuring = false;
  gc.feed(scavenge(MAIN, 50, 0, 0, 0)); // after: ignored
  assert.deepEqual(gc.summary(), {
    isolate: MAIN, scavenges: 2, scavengePauseMeanMs: 3, scavengePauseMaxMs: 4, promotedMeanKb: 750, survivedMeanKb: 400,
    allocatedMeanKb: 13_000, markCompacts: 2, markCompactPauseMs: 10,
  });
});

test('gc-trace - nothing measured, or reset: no summary', () => {
  const gc = new GcTrace();
  gc.feed(scavenge(MAIN, 3, 1, 1, 1));
  assert.equal(gc.summary(), undefined);
  gc.measuring = true;
  gc.feed(scavenge(MAIN, 3, 1, 1, 1));
  assert.equal(gc.summary()?.scavenges, 1);
  gc.reset();
  assert.equal(gc.summary(), undefined);
  // Only mark-compacts: no scavenge to summarise.
  gc.feed(markCompact(MAIN, 2));
  assert.equal(gc.summary(), undefined);
});

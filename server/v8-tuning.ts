/**
 * V8 settings a node applies to itself when it starts (`parley start`), before
 * any traffic.
 *
 * `--no-allocation-site-pretenuring`. V8 watches how many objects of each
 * allocation site outlive a young-generation GC and, past a threshold,
 * allocates that site's objects directly in the old generation from then on.
 * Under a burst (a peak: ~1,600 messages in flight, each living ~15 ms) the
 * sites of the message path cross it, and stay pretenured once the burst is
 * over. Their objects still die within milliseconds, but as garbage in the
 * old generation, where until the next full GC their fields keep the young
 * objects they point to alive through every scavenge, which then copies and
 * promotes them too. Measured at 5,000 msg/s after a peak (BENCHMARKS.md):
 * each scavenge promoted ~0.7–0.8 MB and paused 2.4–3.6 ms (mean), with 2–4
 * full GCs in 12 s, p99 3.9–6.0 ms; without pretenuring it promotes ~126 KB
 * and pauses 1.35–1.65 ms, no full GC, p99 2.5–3.7 ms. The peak is ~3 %
 * lower (three alternating pairs).
 *
 * An operator who sets the flag either way on node's command line keeps their
 * choice (node refuses V8 flags of this kind in NODE_OPTIONS).
 */
import v8 from 'node:v8';

/** The V8 flags to set, given node's own arguments: none that the operator chose either way. */
export function v8FlagsFor(execArgv: readonly string[]): string[] {
  return execArgv.some((a) => /^--(no-)?allocation[-_]site[-_]pretenuring(=|$)/.test(a)) ? [] : ['--no-allocation-site-pretenuring'];
}

/** Applies the settings above to this process. */
export function tuneV8(): void {
  for (const flag of v8FlagsFor(process.execArgv)) v8.setFlagsFromString(flag);
}

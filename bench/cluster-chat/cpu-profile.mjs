/**
 * Preload that CPU-profiles a node process the bench started, as `--cpu-prof`
 * would: Node 20 refuses `--cpu-prof` in NODE_OPTIONS, and the node processes
 * are spawned by test/support (fixed arguments), so the bench passes
 * `NODE_OPTIONS=--import <this file>` and PARLEY_BENCH_CPU_PROF_DIR instead.
 * The profile is written on exit (the inspector session of this thread answers
 * synchronously, so an `exit` handler can stop and save it). Plain JS: it is
 * loaded before tsx.
 */
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.PARLEY_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // 1 ms sampling (Node's --cpu-prof default is 1 ms too).
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${process.env.PARLEY_NODE_ID ?? 'node'}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

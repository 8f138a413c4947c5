/**
 * Preload that counts the CQL requests a node process sends, by statement
 * (verb + table; batches by size), so the bench can say how many Cassandra
 * round trips one delivered message costs. Loaded like cpu-profile.mjs
 * (`NODE_OPTIONS=--import <this file>`, PARLEY_BENCH_CQL_DIR set): it wraps
 * the driver's `Client.prototype.execute` and `batch`. On SIGUSR2 it writes a
 * snapshot of the running totals to `<dir>/<pid>.<n>.json` (n = 1, 2, …);
 * the bench signals at the start and the end of each measured interval and
 * subtracts. Plain JS: it is loaded before tsx.
 */
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.PARLEY_BENCH_CQL_DIR;
if (dir) {
  const cassandra = createRequire(path.join(process.cwd(), 'package.json'))('cassandra-driver');
  const totals = new Map();
  const count = (key) => totals.set(key, (totals.get(key) ?? 0) + 1);
  const statement = (cql) => {
    const m = /^\s*(\w+)[\s\S]*?\b(?:FROM|INTO|UPDATE)\s+(?:\w+\.)?(\w+)/i.exec(String(cql));
    return m ? `${m[1].toUpperCase()} ${m[2]}` : String(cql).slice(0, 40);
  };
  const { execute, batch } = cassandra.Client.prototype;
  cassandra.Client.prototype.execute = function (cql, ...rest) {
    count(statement(cql));
    return execute.call(this, cql, ...rest);
  };
  cassandra.Client.prototype.batch = function (queries, ...rest) {
    count(`BATCH of ${Array.isArray(queries) ? queries.length : '?'}`);
    return batch.call(this, queries, ...rest);
  };
  let n = 0;
  process.on('SIGUSR2', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${process.pid}.${++n}.json`), JSON.stringify(Object.fromEntries(totals)));
  });
}

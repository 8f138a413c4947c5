/**
 * The whole test suite in one command (`npm test` runs the type check, then
 * this): brings up PostgreSQL, Redis and NATS if they are down, starts a
 * Cassandra node from Maven Central jars if none answers, runs every
 * `test/**\/*.test.ts` with node:test through tsx, and stops what it started.
 *
 * Usage: node --import tsx scripts/test.ts [--keep-cassandra] [--no-services] [path …]
 *   path              test files or folders to run (default: test/)
 *   --keep-cassandra  leave a Cassandra started here running (or set PARLEY_KEEP_CASSANDRA=1);
 *                     `npm run cassandra -- stop` stops it later
 *   --no-services     do not check or start any service (tests that need one fail loudly)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureServices, serviceSettings } from './services.ts';
import { ensureCassandra, cassandraSettings, type CassandraHandle } from './cassandra.ts';

const args = process.argv.slice(2);
const keepCassandra = args.includes('--keep-cassandra') || process.env.PARLEY_KEEP_CASSANDRA === '1';
const noServices = args.includes('--no-services');
const roots = args.filter((a) => !a.startsWith('--'));

function testFiles(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(full));
    else if (entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const files = (roots.length > 0 ? roots : ['test']).flatMap(testFiles);
  if (files.length === 0) {
    console.error('no test files found');
    return 1;
  }
  const services = serviceSettings();
  const cass = cassandraSettings();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PARLEY_PG_URL: services.pgUrl,
    PARLEY_REDIS_URL: services.redisUrl,
    PARLEY_NATS_URL: services.natsUrl,
    PARLEY_CASSANDRA_CONTACT_POINTS: `${cass.host}:${cass.port}`,
    PARLEY_CASSANDRA_LOCAL_DC: cass.localDataCenter,
  };
  let cassandra: CassandraHandle | undefined;
  const stopCassandra = async () => {
    const c = cassandra;
    cassandra = undefined;
    if (c && c.startedHere && !keepCassandra) await c.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { void stopCassandra().finally(() => process.exit(130)); });
  }
  try {
    if (!noServices) {
      const t0 = Date.now();
      for (const s of await ensureServices(services, (l) => console.log(`[services] ${l}`))) {
        console.log(`[services] ${s.name} ${s.address} ${s.startedHere ? 'started' : 'up'}`);
      }
      cassandra = await ensureCassandra({ log: (l) => console.log(`[cassandra] ${l}`) });
      console.log(`[services] Cassandra ${cassandra.contactPoint} ${cassandra.startedHere ? 'started' : 'up'} (all services ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', ...files], {
        stdio: 'inherit',
        env,
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await stopCassandra();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`test run failed before the tests: ${err.message}`);
    process.exit(1);
  },
);

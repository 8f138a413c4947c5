/**
 * A real Apache Cassandra 5.0 node for tests: jars from Maven Central, run on JDK 17.
 *
 * Module API (test harnesses import these):
 *   ensureCassandra({ log?, output?, startTimeoutMs? }) -> CassandraHandle
 *       reuses a node already answering CQL on PARLEY_CASSANDRA_HOST:PORT, or fetches
 *       the jars and starts one with data in a fresh temp folder. handle.stop()
 *       stops and deletes a node started here, and does nothing to a reused one.
 *   fetchCassandra() -> lib dir under .cache/cassandra/<version>/lib
 *   cassandraSettings() -> host, port, contactPoint, localDataCenter, ...
 *
 * CLI (`npm run cassandra -- <command>`):
 *   fetch            download the jars (once; later runs find the cache complete)
 *   start            run a node in the foreground until SIGINT/SIGTERM
 *   start --detach   start a node that outlives this command (pid file in .cache/cassandra/run/)
 *   stop             stop the detached node
 *   status           say whether CQL answers; exit code 0 if it does, 1 if not
 *
 * Settings are environment variables, documented in scripts/cassandra/settings.ts;
 * findings from running it are in scripts/cassandra/NOTES.md.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { cqlVersionIfUp } from './cassandra/cql-probe.ts';
import { fetchCassandraJars } from './cassandra/fetch.ts';
import { ensureCassandra } from './cassandra/attached-node.ts';
import { readDetachedState, startDetached, stopDetached } from './cassandra/detached-node.ts';
import { cassandraSettings } from './cassandra/settings.ts';

export { ensureCassandra, type CassandraHandle, type EnsureCassandraOptions } from './cassandra/attached-node.ts';
export { cassandraSettings, type CassandraSettings } from './cassandra/settings.ts';

/** Fetches cassandra-all and its runtime dependencies if missing; returns the lib dir. */
export async function fetchCassandra(): Promise<string> {
  return (await fetchCassandraJars()).libDir;
}

// ---------------------------------------------------------------------------
// CLI

const say = (line: string): void => console.log(`[cassandra] ${line}`);
const since = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

async function fetchCommand(): Promise<void> {
  const t0 = performance.now();
  const r = await fetchCassandraJars({ log: say });
  const size = `${r.jarCount} jars, ${(r.bytes / 1024 / 1024).toFixed(1)} MiB`;
  say(r.fetched ? `fetched in ${since(t0)} (${size}) into ${r.libDir}` : `already fetched (${size}) in ${r.libDir}; took ${since(t0)}`);
}

async function startCommand(detach: boolean): Promise<void> {
  const t0 = performance.now();
  if (detach) {
    const r = await startDetached({ log: say });
    if (r.kind === 'already-running') {
      say(`Cassandra ${r.version} already answers on ${cassandraSettings().contactPoint}; nothing started`);
    } else {
      say(`detached node pid ${r.pid} ready; total ${since(t0)} (log: ${r.logFile}; stop with: npm run cassandra -- stop)`);
    }
    return;
  }
  const handle = await ensureCassandra({ log: say, output: (line) => console.log(line) });
  if (!handle.startedHere) {
    say(`a node already answers on ${handle.contactPoint}; nothing started`);
    return;
  }
  say(`ready on ${handle.contactPoint}; total ${since(t0)}. Ctrl-C stops it.`);
  // `on`, not `once`: while we listen, ensureCassandra's own hook leaves exiting to us.
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`${signal}: stopping`);
    void handle.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function stopCommand(): Promise<void> {
  if (await stopDetached({ log: say })) return;
  const up = await cqlVersionIfUp(cassandraSettings());
  say(
    up === undefined
      ? 'no detached node running'
      : `no detached node of ours, but Cassandra ${up} answers on ${cassandraSettings().contactPoint}; not touching it`,
  );
}

async function statusCommand(): Promise<void> {
  const settings = cassandraSettings();
  const version = await cqlVersionIfUp(settings);
  const state = await readDetachedState();
  const detached = state === undefined ? '' : ` (pid file: detached node pid ${state.pid}, log ${state.logFile})`;
  if (version === undefined) {
    say(`down: nothing answers CQL on ${settings.contactPoint}${detached}`);
    process.exitCode = 1;
  } else {
    say(`up: Cassandra ${version} answers CQL on ${settings.contactPoint}${detached}`);
  }
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  const program = new Command('cassandra')
    .description('a local Apache Cassandra node for tests (npm run cassandra -- <command>)')
    .showHelpAfterError();
  program.command('fetch').description('download cassandra-all and its dependencies with Maven').action(fetchCommand);
  program
    .command('start')
    .description('start a node; in the foreground unless --detach')
    .option('--detach', 'leave the node running after this command returns')
    .action((o: { detach?: boolean }) => startCommand(o.detach === true));
  program.command('stop').description('stop the node started with start --detach').action(stopCommand);
  program.command('status').description('whether CQL answers (exit code 1 if not)').action(statusCommand);
  program.parseAsync().catch((err: unknown) => {
    console.error(`[cassandra] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

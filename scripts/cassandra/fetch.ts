/**
 * Fetches cassandra-all and its runtime dependencies from Maven Central into
 * `.cache/cassandra/<version>/lib` with maven-dependency-plugin's copy-dependencies.
 *
 * Maven copies into `lib.partial` first; only a finished copy is renamed to `lib`
 * and gets the marker file, so an interrupted fetch is redone, never half-used.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CACHE_DIR, TEMPLATE_DIR, cassandraSettings } from './settings.ts';

const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const MARKER = 'fetch-complete.json';
const MAVEN_TAIL_LINES = 40;
const ANSI_ESCAPE = /\x1b\[[0-9;]*m/g;

export interface FetchResult {
  readonly libDir: string;
  /** false when the cache was already complete and Maven did not run. */
  readonly fetched: boolean;
  readonly jarCount: number;
  readonly bytes: number;
}

export function versionDir(version: string): string {
  return path.join(CACHE_DIR, version);
}

async function libStats(libDir: string): Promise<{ jarCount: number; bytes: number }> {
  let jarCount = 0;
  let bytes = 0;
  for (const name of await readdir(libDir)) {
    if (!name.endsWith('.jar')) continue;
    jarCount += 1;
    bytes += (await stat(path.join(libDir, name))).size;
  }
  return { jarCount, bytes };
}

function runMaven(args: readonly string[], cwd: string, logFile: string): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn('mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile);
    const tail: string[] = [];
    let pending = '';
    const onData = (chunk: Buffer): void => {
      log.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // Even with -B, Maven 3.8's launcher writes ANSI resets (ESC[0m) around its output.
        tail.push(line.replace(ANSI_ESCAPE, ''));
        if (tail.length > MAVEN_TAIL_LINES) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      log.end();
      reject(new Error(`cannot run mvn (is Maven installed and on PATH?): ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (pending !== '') tail.push(pending.replace(ANSI_ESCAPE, ''));
      log.end(() => resolve({ code: code ?? (signal === null ? -1 : 128), tail }));
    });
  });
}

/**
 * Returns the lib dir of the configured version, running Maven only when the
 * cache is not complete. Throws with Maven's own output tail when Maven fails.
 */
export async function fetchCassandraJars(opts: { log?: (line: string) => void } = {}): Promise<FetchResult> {
  const log = opts.log ?? (() => {});
  const { version } = cassandraSettings();
  const dir = versionDir(version);
  const libDir = path.join(dir, 'lib');
  if (existsSync(path.join(dir, MARKER)) && existsSync(libDir)) {
    return { libDir, fetched: false, ...(await libStats(libDir)) };
  }

  await mkdir(dir, { recursive: true });
  const partial = path.join(dir, 'lib.partial');
  await rm(partial, { recursive: true, force: true });
  await rm(libDir, { recursive: true, force: true });
  const pom = path.join(dir, 'pom.xml');
  await writeFile(pom, await readFile(path.join(TEMPLATE_DIR, 'pom.xml'), 'utf8'));

  const logFile = path.join(dir, 'maven.log');
  const args = [
    '-B', // batch mode: no prompts, no colours
    '-ntp', // no download progress lines; failures still print
    '-f', pom,
    `-Dcassandra.version=${version}`,
    `${DEPENDENCY_PLUGIN}:copy-dependencies`,
    '-DincludeScope=runtime',
    `-DoutputDirectory=${partial}`,
  ];
  log(`fetching cassandra-all ${version} with: mvn ${args.join(' ')}`);
  const { code, tail } = await runMaven(args, dir, logFile);
  if (code !== 0) {
    throw new Error(
      `mvn exited with ${code} while fetching cassandra-all ${version} (full log: ${logFile}). Last lines:\n` +
        tail.join('\n'),
    );
  }
  const stats = await libStats(partial);
  if (!(await readdir(partial)).some((n) => n.startsWith(`cassandra-all-${version}`) && n.endsWith('.jar'))) {
    throw new Error(`mvn succeeded but ${partial} has no cassandra-all-${version}.jar (full log: ${logFile})`);
  }
  await rename(partial, libDir);
  await writeFile(
    path.join(dir, MARKER),
    JSON.stringify({ version, fetchedAt: new Date().toISOString(), ...stats }, null, 2) + '\n',
  );
  return { libDir, fetched: true, ...stats };
}

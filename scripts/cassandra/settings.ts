/**
 * Settings for the local Cassandra test node, read from the environment.
 *
 * Every value has a default that runs a single node on the loopback address, so
 * `npm run cassandra -- start` and the integration tests agree without any setup.
 *
 *   PARLEY_CASSANDRA_HOST          127.0.0.1   CQL address (also listen/rpc address of a node we start)
 *   PARLEY_CASSANDRA_PORT          9042        CQL (native transport) port
 *   PARLEY_CASSANDRA_STORAGE_PORT  7000        inter-node port of a node we start
 *   PARLEY_CASSANDRA_VERSION       5.0.8       org.apache.cassandra:cassandra-all version
 *   PARLEY_CASSANDRA_JAVA          /usr/lib/jvm/java-17-openjdk-amd64/bin/java
 *   PARLEY_CASSANDRA_HEAP          512m        -Xms and -Xmx of a node we start
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface CassandraSettings {
  readonly host: string;
  readonly port: number;
  /** `host:port`, as cassandra-driver's `contactPoints` accepts it. */
  readonly contactPoint: string;
  /** SimpleSnitch always names its data center `datacenter1`. */
  readonly localDataCenter: 'datacenter1';
  readonly storagePort: number;
  readonly version: string;
  readonly java: string;
  readonly heap: string;
}

export const DEFAULT_CASSANDRA_SETTINGS = {
  host: '127.0.0.1',
  port: 9042,
  storagePort: 7000,
  // 5.0 is the only line that runs on Java 17; 5.0.5+ declares Java 17 production ready.
  version: '5.0.8',
  // Not the Temurin 25 JDK: Java 24+ removed the Security Manager that 5.0 installs at startup.
  java: '/usr/lib/jvm/java-17-openjdk-amd64/bin/java',
  heap: '512m',
} as const;

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name}=${raw} is not a TCP port`);
  }
  return port;
}

function stringFromEnv(name: string, fallback: string): string {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

export function cassandraSettings(): CassandraSettings {
  const d = DEFAULT_CASSANDRA_SETTINGS;
  const host = stringFromEnv('PARLEY_CASSANDRA_HOST', d.host);
  const port = portFromEnv('PARLEY_CASSANDRA_PORT', d.port);
  const heap = stringFromEnv('PARLEY_CASSANDRA_HEAP', d.heap);
  if (!/^\d+[mMgG]$/.test(heap)) throw new Error(`PARLEY_CASSANDRA_HEAP=${heap} is not like 512m or 1g`);
  return {
    host,
    port,
    contactPoint: `${host}:${port}`,
    localDataCenter: 'datacenter1',
    storagePort: portFromEnv('PARLEY_CASSANDRA_STORAGE_PORT', d.storagePort),
    version: stringFromEnv('PARLEY_CASSANDRA_VERSION', d.version),
    java: stringFromEnv('PARLEY_CASSANDRA_JAVA', d.java),
    heap,
  };
}

/** Repository root: this file lives in <root>/scripts/cassandra/. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Templates (pom.xml, cassandra.yaml, logback.xml, supervise.sh) live beside this file. */
export const TEMPLATE_DIR = fileURLToPath(new URL('./', import.meta.url));
/** Ignored by git (`.cache/` is in .gitignore). */
export const CACHE_DIR = path.join(REPO_ROOT, '.cache', 'cassandra');
/** Pid file and log of a node started with `start --detach`. */
export const DETACHED_DIR = path.join(CACHE_DIR, 'run');

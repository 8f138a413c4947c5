/**
 * The per-run folder and the `java` command line of a CassandraDaemon, without
 * bin/cassandra (which the Maven jars do not ship).
 *
 * The JPMS flags are Cassandra 5.0's `conf/jvm17-server.options`, plus the opens
 * that jamm and Chronicle are known to need on 17 (java.nio.charset,
 * java.util.concurrent[.atomic]). The -D properties are the ones bin/cassandra
 * sets, and the fast-start switches for a single throw-away node.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEMPLATE_DIR, type CassandraSettings } from './settings.ts';

const RUN_SUBDIRS = ['conf', 'data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'logs', 'triggers', 'tmp'];

const JPMS_FLAGS = [
  '--add-exports', 'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports', 'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-exports', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-exports', 'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports', 'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports', 'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports', 'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports', 'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports', 'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens', 'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens', 'java.base/java.io=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-opens', 'java.base/java.nio=ALL-UNNAMED',
  '--add-opens', 'java.base/java.nio.charset=ALL-UNNAMED',
  '--add-opens', 'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
];

/** Creates a fresh run folder with the rendered cassandra.yaml and logback.xml. */
export async function prepareRunDir(settings: CassandraSettings): Promise<string> {
  const run = await mkdtemp(path.join(tmpdir(), 'parley-cassandra-'));
  for (const d of RUN_SUBDIRS) await mkdir(path.join(run, d), { recursive: true });
  const yaml = (await readFile(path.join(TEMPLATE_DIR, 'cassandra.yaml'), 'utf8'))
    .replaceAll('__RUN__', run)
    .replaceAll('__HOST__', settings.host)
    .replaceAll('__STORAGE_PORT__', String(settings.storagePort))
    .replaceAll('__PORT__', String(settings.port));
  await writeFile(path.join(run, 'conf', 'cassandra.yaml'), yaml);
  await writeFile(path.join(run, 'conf', 'logback.xml'), await readFile(path.join(TEMPLATE_DIR, 'logback.xml')));
  return run;
}

/** The `java` arguments (without the java binary) for a node whose folder is `run`. */
export async function cassandraJvmArgs(settings: CassandraSettings, libDir: string, run: string): Promise<string[]> {
  const jamm = (await readdir(libDir)).find((n) => /^jamm-[\d.]+\.jar$/.test(n));
  if (jamm === undefined) throw new Error(`no jamm-*.jar in ${libDir}; delete .cache/cassandra and fetch again`);
  return [
    // A small fixed heap: the node holds test data only, and Xms=Xmx avoids resize pauses.
    `-Xms${settings.heap}`,
    `-Xmx${settings.heap}`,
    '-Xss256k',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:+UseThreadPriorities',
    '-Djava.net.preferIPv4Stack=true',
    // Allowed on 17 (Cassandra installs its own Security Manager for UDFs); needed on 18-23.
    '-Djava.security.manager=allow',
    '-Djdk.attach.allowAttachSelf=true',
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dio.netty.allocator.useCacheForAllThreads=true',
    '-Dio.netty.allocator.maxOrder=11',
    `-javaagent:${path.join(libDir, jamm)}`,
    ...JPMS_FLAGS,
    // Without it the daemon closes stdout/stderr once started, and we lose its log.
    '-Dcassandra-foreground=yes',
    `-Dcassandra.config=file://${path.join(run, 'conf', 'cassandra.yaml')}`,
    `-Dcassandra.storagedir=${run}`,
    `-Dcassandra.logdir=${path.join(run, 'logs')}`,
    `-Dcassandra.triggers_dir=${path.join(run, 'triggers')}`,
    `-Dlogback.configurationFile=${path.join(run, 'conf', 'logback.xml')}`,
    // Single node: nothing to gossip with, no ring to wait for.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=0',
    '-Dcassandra.superuser_setup_delay_ms=0',
    '-Dcassandra.load_ring_state=false',
    // Shutdown otherwise sleeps 2 s announcing it to peers and 2 s for messaging to quiesce.
    '-Dcassandra.shutdown_announce_in_ms=0',
    '-Dcassandra.test.messagingService.nonGracefulShutdown=true',
    // Skips blocking flushes of system tables; data here is thrown away anyway.
    '-Dcassandra.unsafesystem=true',
    // JNA unpacks libjnidispatch.so into its tmpdir; keep it inside the run folder.
    `-Djava.io.tmpdir=${path.join(run, 'tmp')}`,
    `-Djna.tmpdir=${path.join(run, 'tmp')}`,
    '-cp',
    // The JVM expands `lib/*`; no shell is involved.
    `${path.join(run, 'conf')}:${path.join(libDir, '*')}`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}

/** Cassandra 5.0 runs on Java 11 or 17 only; a wrong JDK should fail here, not 5 s into startup. */
export async function checkJava(java: string): Promise<string> {
  try {
    accessSync(java, fsConstants.X_OK);
  } catch {
    throw new Error(`no executable java at ${java}; set PARLEY_CASSANDRA_JAVA to a JDK 17 java binary`);
  }
  const { stderr } = await promisify(execFile)(java, ['-XshowSettings:properties', '-version']);
  const spec = /java\.specification\.version = (\S+)/.exec(stderr)?.[1];
  if (spec !== '17' && spec !== '11') {
    throw new Error(
      `${java} is Java ${spec ?? '(unknown)'}; Cassandra 5.0 runs on Java 11 or 17 only ` +
        '(Java 24+ removed the Security Manager it installs). Set PARLEY_CASSANDRA_JAVA.',
    );
  }
  return spec;
}

/**
 * Makes sure the external services the test suite needs are up:
 * PostgreSQL, Redis and NATS (with JetStream). Each is expected on
 * 127.0.0.1 (settings from PARLEY_PG_URL, PARLEY_REDIS_URL, PARLEY_NATS_URL);
 * if its port does not answer, the service is started from its installed
 * binary, the same way the machine starts it at boot. A missing binary is a
 * clear error naming the package to install.
 *
 * CLI: `npm run services` checks (and starts) all three and prints their state.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, mkdirSync } from 'node:fs';
import net from 'node:net';

/** Connection settings of the test services, with localhost defaults. */
export interface ServiceSettings {
  /** @default 'postgres://postgres@127.0.0.1:5432/test' */
  readonly pgUrl: string;
  /** @default 'redis://127.0.0.1:6379' */
  readonly redisUrl: string;
  /** @default 'nats://127.0.0.1:4222' */
  readonly natsUrl: string;
}

/** Reads the service settings from the environment. */
export function serviceSettings(env: NodeJS.ProcessEnv = process.env): ServiceSettings {
  return {
    pgUrl: env.PARLEY_PG_URL || 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: env.PARLEY_REDIS_URL || 'redis://127.0.0.1:6379',
    natsUrl: env.PARLEY_NATS_URL || 'nats://127.0.0.1:4222',
  };
}

interface ServiceSpec {
  readonly name: string;
  readonly url: string;
  readonly defaultPort: number;
  /** Binary that must exist to start the service, and the Debian package that has it. */
  readonly binary: string;
  readonly debianPackage: string;
  start(port: number): void;
}

function specs(s: ServiceSettings): ServiceSpec[] {
  return [
    {
      name: 'PostgreSQL', url: s.pgUrl, defaultPort: 5432, binary: '/usr/bin/pg_ctlcluster', debianPackage: 'postgresql',
      start: () => {
        const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
        if (versions.length === 0) throw new Error('PostgreSQL has no cluster under /etc/postgresql (apt-get install postgresql)');
        run('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0]!, 'main', 'start']);
      },
    },
    {
      name: 'Redis', url: s.redisUrl, defaultPort: 6379, binary: '/usr/bin/redis-server', debianPackage: 'redis-server',
      start: (port) => {
        mkdirSync('/var/lib/redis', { recursive: true });
        run('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis']);
      },
    },
    {
      name: 'NATS', url: s.natsUrl, defaultPort: 4222, binary: '/usr/sbin/nats-server', debianPackage: 'nats-server',
      start: (port) => {
        mkdirSync('/var/lib/nats-server', { recursive: true });
        run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/nats-server', '--',
          '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', '/var/lib/nats-server', '-l', '/var/log/nats-server.log']);
      },
    },
  ];
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim() ?? `exit ${r.status}`}`);
  }
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : defaultPort };
}

/** Result of checking one service. */
export interface ServiceState {
  readonly name: string;
  readonly address: string;
  readonly startedHere: boolean;
}

/**
 * Checks every service and starts those that are down. Rejects with one
 * message listing every service that is down and could not be started.
 */
export async function ensureServices(settings: ServiceSettings = serviceSettings(), log: (line: string) => void = () => {}): Promise<ServiceState[]> {
  const states: ServiceState[] = [];
  const failures: string[] = [];
  for (const spec of specs(settings)) {
    const { host, port } = hostPort(spec.url, spec.defaultPort);
    const address = `${host}:${port}`;
    if (await portOpen(host, port)) {
      states.push({ name: spec.name, address, startedHere: false });
      continue;
    }
    if (!isLocal(host)) {
      failures.push(`${spec.name} does not answer on ${address} (not local, so not started here)`);
      continue;
    }
    if (!existsSync(spec.binary) && !onPath(spec.binary)) {
      failures.push(`${spec.name} does not answer on ${address} and is not installed: ${spec.binary} missing (apt-get install ${spec.debianPackage})`);
      continue;
    }
    log(`${spec.name} is down on ${address}: starting it`);
    try {
      spec.start(port);
      if (!(await waitForPort(host, port, 30_000))) throw new Error(`started, but ${address} still does not answer after 30 s`);
      states.push({ name: spec.name, address, startedHere: true });
    } catch (err) {
      failures.push(`${spec.name} could not be started: ${(err as Error).message}`);
    }
  }
  if (failures.length > 0) throw new Error(`services unavailable:\n  - ${failures.join('\n  - ')}`);
  return states;
}

function isLocal(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary.split('/').pop()}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portOpen(host, port, 500)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureServices(serviceSettings(), (l) => console.log(l))
    .then((states) => {
      for (const s of states) console.log(`${s.name.padEnd(10)} ${s.address.padEnd(18)} ${s.startedHere ? 'started' : 'up'}`);
    })
    .catch((err: Error) => {
      console.error(err.message);
      process.exit(1);
    });
}

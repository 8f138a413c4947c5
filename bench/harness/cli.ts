/**
 * `parley bench <scenario>`: the load harness's command line. Registers the
 * subcommand on the `parley` program; everything else lives in run.ts.
 *
 *   parley bench idle --connections 100000
 *   parley bench oneToOne --pairs 500 --window 8 --duration 20
 *   parley bench reconnectStorm --connections 20000
 *   parley bench oneToOne --pairs 200 --nodes 2 --cluster nats://127.0.0.1:4222
 *   parley bench --file my-mix.json --compare previous.json
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BenchConfigError, SCENARIO_KINDS, readScenarioFile, resolveBenchConfig, type BenchConfig, type LoginMode, type ScenarioKind } from './config.ts';
import { killAllNow, stopAll } from './children.ts';
import { manualCleanup } from './cluster-backends.ts';
import { reportMarkdown } from './report-markdown.ts';
import { startBench } from './run.ts';

interface BenchFlags {
  file?: string; connections?: string; pairs?: string; maxConnections?: string; rampRate?: string; rampConcurrency?: string;
  login?: string; duration?: string; maxDuration?: string; window?: string; rate?: string; payload?: string; messagesPerInbox?: string;
  reconnectRate?: string; heartbeats?: boolean; e2ee?: boolean; workers?: string; maxPerWorker?: string; addresses?: string;
  sourceAddresses?: string; portsPerAddress?: string; nodes?: string; maxPerNode?: string; target?: string[]; cluster?: string;
  crossNode?: boolean; out?: string; compare?: string; progress?: boolean;
}

const num = (v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n)) throw new BenchConfigError(`not a number: ${JSON.stringify(v)}`);
  return n;
};

/** Flags → partial config (undefined = not given). */
export function flagsToConfig(f: BenchFlags): Partial<BenchConfig> {
  const pairs = num(f.pairs);
  const addressCount = num(f.addresses);
  return {
    connections: pairs !== undefined ? pairs * 2 : num(f.connections),
    maxConnections: num(f.maxConnections), rampRate: num(f.rampRate), rampConcurrency: num(f.rampConcurrency),
    login: f.login as LoginMode | undefined, holdS: num(f.duration), maxDurationS: num(f.maxDuration), window: num(f.window),
    rate: num(f.rate), payloadBytes: num(f.payload), messagesPerInbox: num(f.messagesPerInbox), reconnectRate: num(f.reconnectRate),
    heartbeats: f.heartbeats === false ? false : undefined, e2ee: f.e2ee === true ? true : undefined,
    workers: num(f.workers), maxPerWorker: num(f.maxPerWorker), portsPerAddress: num(f.portsPerAddress),
    sourceAddresses: f.sourceAddresses !== undefined ? f.sourceAddresses.split(',').map((s) => s.trim())
      : addressCount !== undefined ? Array.from({ length: addressCount }, (_, k) => `127.0.0.${2 + k}`) : undefined,
    nodes: f.target !== undefined && f.nodes === undefined ? 0 : num(f.nodes), maxPerNode: num(f.maxPerNode), targets: f.target,
    cluster: f.cluster, crossNode: f.crossNode, out: f.out, compare: f.compare, progress: f.progress === false ? false : undefined,
  } as Partial<BenchConfig>;
}

/** Writes `<out>.json` and `<out>.md`; returns their paths. */
function writeReport(config: BenchConfig, json: string, md: string): { json: string; md: string } {
  const base = config.out ?? path.join('.cache', 'bench-reports', `parley-bench-${config.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(path.dirname(path.resolve(base)), { recursive: true });
  writeFileSync(`${base}.json`, json);
  writeFileSync(`${base}.md`, md);
  return { json: `${base}.json`, md: `${base}.md` };
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('load harness: forks workers (≤ 19,000 connections each) over loopback source addresses and gateway nodes it starts; JSON + Markdown report')
    .argument('[scenario]', `${SCENARIO_KINDS.join(' | ')} (or --file)`)
    .option('--file <scenario.json>', 'scenario file: {"scenario": "oneToOne", "connections": 2000, …} (flags override it)')
    .option('--connections <n>', 'client connections in total (default: the preset\'s)')
    .option('--pairs <n>', 'pairs (oneToOne, offline): connections = 2 × pairs')
    .option('--max-connections <n>', 'refuse runs over this many connections (default 1000000)')
    .option('--ramp-rate <n>', 'new connections per second over all workers (default 2000)')
    .option('--ramp-concurrency <n>', 'handshakes in flight per worker (default 256)')
    .addOption(new Option('--login <mode>', 'register: each ramp connection registers a new account; auth: accounts registered in a setup phase first, the ramp logs in').choices(['register', 'auth']))
    .option('--duration <s>', 'hold / measured seconds after the ramp')
    .option('--max-duration <s>', 'hard bound on the whole run, seconds (default 600)')
    .option('--window <n>', 'messages in flight per pair (default 8)')
    .option('--rate <n>', 'oneToOne: total msgs/s on a fixed schedule (default 0 = peak with --window)')
    .option('--payload <bytes>', 'payload bytes per message (default 100)')
    .option('--messages-per-inbox <n>', 'offline: messages queued per receiver (default 50)')
    .option('--reconnect-rate <n>', 'reconnectStorm: reconnections per second over all workers (default 0 = as fast as the handshakes go)')
    .option('--no-heartbeats', 'do not answer server pings')
    .option('--e2ee', 'oneToOne with SecureClient (libsignal sessions): the client cost of end-to-end encryption; ≤ 2000 connections')
    .option('--workers <n>', 'worker processes (default: as few as --max-per-worker allows)')
    .option('--max-per-worker <n>', 'connections per worker at most (≤ 19000, default 19000)')
    .option('--addresses <n>', 'use 127.0.0.2 … 127.0.0.<n+1> as source addresses')
    .option('--source-addresses <list>', 'comma-separated loopback source addresses')
    .option('--ports-per-address <n>', 'client sockets per source address and pass at most (default 10000)')
    .option('--nodes <n>', 'gateway node processes to start (default 1, raised to connections / max-per-node)')
    .option('--max-per-node <n>', 'connections per started node at most (default 19000)')
    .option('--target <url...>', 'gateway URLs of running nodes instead of starting any')
    .option('--cluster <nats-url>', 'the started nodes form one cluster over NATS (`parley start --cluster`): node ids bench-0…, a cluster name and a fresh PostgreSQL schema + Cassandra keyspace per run (PARLEY_PG_URL, PARLEY_CASSANDRA_CONTACT_POINTS or the local defaults), Redis presence if it answers; all dropped at the end. Without it nodes are independent, each its own embedded store')
    .option('--cross-node', 'each pair\'s sender and receiver on different nodes, a storm\'s reconnects on another node (default with --cluster and ≥ 2 nodes)')
    .option('--no-cross-node', 'clustered, but both ends of a pair on one node (the cluster\'s cost without the hop)')
    .option('--out <path>', 'report files <path>.json and <path>.md (default .cache/bench-reports/…)')
    .option('--compare <report.json>', 'compare with a previous report')
    .option('--no-progress', 'no live progress on stderr')
    .action(async (scenarioArg: string | undefined, flags: BenchFlags) => {
      const file = flags.file !== undefined ? readScenarioFile(flags.file) : undefined;
      const scenario = (scenarioArg ?? file?.scenario) as ScenarioKind | undefined;
      if (scenario === undefined || !SCENARIO_KINDS.includes(scenario)) {
        throw new BenchConfigError(`scenario must be one of ${SCENARIO_KINDS.join(', ')}, got ${JSON.stringify(scenarioArg)}`);
      }
      const config = resolveBenchConfig(scenario, file, flagsToConfig(flags));
      const bench = startBench(config, `parley ${process.argv.slice(2).join(' ')}`);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          killAllNow();
          if (bench.cluster !== undefined) process.stderr.write(`parley bench: left behind: ${manualCleanup(bench.cluster)}\n`);
          process.exit(130);
        }
        process.stderr.write(`\nparley bench: ${signal}: stopping every process it started…\n`);
        bench.abort(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      process.on('exit', killAllNow);
      try {
        const report = await bench.done;
        const md = reportMarkdown(report);
        const files = writeReport(config, `${JSON.stringify(report, null, 2)}\n`, `${md}\n`);
        process.stdout.write(`${JSON.stringify(report)}\n\n${md}\nreport: ${files.json} ${files.md}\n`);
        process.exitCode = report.outcome === 'completed' ? 0 : report.outcome === 'deadline' ? 0 : 1;
      } finally {
        await stopAll(5_000);
      }
    });
}

/**
 * `parley` command line. Subcommands: `start` (a node), `bench` (the load
 * harness, bench/harness). `ctl` and `chat` arrive with their issues.
 */
import { Command, Option } from 'commander';
import { loadConfig, type ConfigFlags } from './config.ts';
import { createLogger } from './log.ts';
import { startNode } from './node.ts';
import { migrateAll } from './migrate.ts';
import { isParleyError } from '../protocol/errors.ts';
import { registerBenchCommand } from '../bench/harness/cli.ts';
import { tuneV8 } from './v8-tuning.ts';

const program = new Command('parley').description('Parley messaging backend').showHelpAfterError();

program
  .command('start')
  .description('start one node (embedded store unless PARLEY_PG_URL / PARLEY_CASSANDRA_CONTACT_POINTS / … are set)')
  .addOption(new Option('--node-id <id>', 'node name (PARLEY_NODE_ID)'))
  .addOption(new Option('--host <addr>', 'listen address (PARLEY_HOST)'))
  .addOption(new Option('--http-port <n>', 'operator HTTP port, 0 = any (PARLEY_HTTP_PORT)'))
  .addOption(new Option('--gateway-port <n>', 'client WebSocket port, 0 = any (PARLEY_GATEWAY_PORT)'))
  .addOption(new Option('--data-dir <dir>', 'embedded store folder (PARLEY_DATA_DIR)'))
  .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (PARLEY_LOG_LEVEL)'))
  .addOption(new Option('--inbox-defer-ms <ms>', 'embedded inbox: how long an append to online devices waits for their acks before it is written, 0 = never waits (PARLEY_INBOX_DEFER_MS)'))
  .addOption(new Option('--cluster-forward-ms <ms>', 'cluster: how long a send handed over to online devices waits for their acks before it is stored, 0 = always stored first (PARLEY_CLUSTER_FORWARD_MS)'))
  .addOption(new Option('--cluster <nats-url>', 'join a cluster over NATS, e.g. nats://127.0.0.1:4222 (PARLEY_NATS_URL; needs PARLEY_PG_URL and PARLEY_CASSANDRA_CONTACT_POINTS)'))
  .addOption(new Option('--cluster-name <name>', 'nodes with the same name form one cluster (PARLEY_CLUSTER_NAME)'))
  .action(async (opts: ConfigFlags & { cluster?: string }) => {
    tuneV8();
    const { cluster, ...rest } = opts;
    const config = loadConfig({ ...rest, natsUrl: cluster });
    const log = createLogger(config.logLevel, { node: config.nodeId });
    // Signals are handled from the start: one that arrives while the node
    // starts stops it as soon as it is up.
    let signalled: NodeJS.Signals | undefined;
    let stopNode: ((reason: string) => void) | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      signalled ??= signal;
      stopNode?.(signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const node = await startNode(config, log);
    stopNode = (reason) => void node.stop(reason);
    const http = `http://${node.httpAddress.address}:${node.httpAddress.port}`;
    const ws = `ws://${node.gatewayAddress.address}:${node.gatewayAddress.port}`;
    log.info({ event: 'node.listening', http, gateway: ws }, 'node listening');
    // A human-readable line for the operator, besides the JSON log.
    process.stderr.write(`parley node ${config.nodeId} listening: gateway ${ws}  health ${http}/healthz\n`);
    if (signalled !== undefined) stopNode(signalled);
    await node.stopped;
    // Everything is closed and flushed: exit now rather than wait for stray
    // handles (a client's half-closed socket) to drain.
    process.exit(0);
  });

program
  .command('migrate')
  .description('apply the schema migrations of the configured backends (PostgreSQL: PARLEY_PG_URL, Cassandra: PARLEY_CASSANDRA_CONTACT_POINTS, embedded: --data-dir) and exit')
  .addOption(new Option('--data-dir <dir>', 'embedded store folder (PARLEY_DATA_DIR)'))
  .action(async (opts: ConfigFlags) => {
    const config = loadConfig(opts);
    const report = await migrateAll(config);
    for (const line of report) process.stdout.write(`${line}\n`);
  });

registerBenchCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const code = isParleyError(err) ? err.code : 'PARLEY_ERR_INTERNAL';
  process.stderr.write(`parley: ${code}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * Stores bench (issue 6): inbox write and drain rates on SQLite (synchronous
 * normal and full) and Cassandra, the same workload in the same run; drain
 * speed of a device with a long acked history against a fresh device (the
 * tombstone question: acks are range deletes, reads start at the acked
 * cursor); pre-key fetch rate on PostgreSQL under 8 concurrent clients
 * against the SQLite pre-key store. Prints one JSON line, then the tables.
 *
 *   node --import tsx bench/stores/run.ts [--million 1000000] [--fill-seconds 330] [--quick]
 *
 * Needs the Cassandra test node (`npm run cassandra -- status`) and
 * PostgreSQL at PARLEY_PG_URL. Creates a keyspace and a schema named
 * `parley_bench_<random>` and SQLite files in temp folders; removes them all.
 *
 * The history is built through the InboxStore port only, the way an online
 * device's session builds it: concurrent appends to the device while one
 * session reads pages of 128 from its cursor and acks each page (one range
 * delete). One device's appends are serialised on Cassandra (the device
 * sequencer holds the device's lock over two round trips), so a million
 * takes far longer than this bench may run on a shared 2-core machine: the
 * fill is time-boxed (`--fill-seconds`) and the tables say how far it got.
 */
import os from 'node:os';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { DeviceAddress, InboxStore } from '../../store/types.ts';
import { CASSANDRA_LOG, openCassandraBench, openPostgresBench, openSqliteInbox, type InboxBackend } from './backends.ts';
import { appendEach, appendLoad, devices, drainDevice, drainMany, fillHistory, firstPageLatency, type FillHistoryResult } from './inbox-workload.ts';
import { preKeyLoad, type PreKeyLoadResult } from './prekey-workload.ts';
import { markdown, type DeviceRound, type HistoryFigures, type HistoryRound, type WriteDrainFigures } from './report.ts';

const { values: flags } = parseArgs({
  options: {
    million: { type: 'string' },
    'fill-seconds': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = flags.quick === true;
const S = {
  appenders: 64,
  writeMs: quick ? 2_000 : 6_000,
  senders: 1_000,
  recipients: 1_000,
  historyTarget: Number(flags.million ?? (quick ? 20_000 : 1_000_000)),
  fillBudgetMs: Number(flags['fill-seconds'] ?? (quick ? 15 : 330)) * 1000,
  backlog: quick ? 1_000 : 5_000,
  warmSamples: quick ? 20 : 100,
  coldSamples: quick ? 10 : 50,
  prekeyDevices: quick ? 20 : 100,
  prekeysPerDevice: quick ? 50 : 100,
  prekeyClients: 8,
  prekeyLowWater: 5,
};
if (!Number.isSafeInteger(S.historyTarget) || S.historyTarget < 1) throw new Error('--million must be a positive integer');
if (!(S.fillBudgetMs > 0)) throw new Error('--fill-seconds must be positive');

const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[stores ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const load = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);
const senders = devices(S.senders);

// ---------------------------------------------------------------------------
// 1. write and drain rates

async function writeAndDrain(b: InboxBackend): Promise<WriteDrainFigures> {
  const many = devices(S.recipients);
  const one = devices(1)[0]!;
  await appendEach(b.inbox, [...many, one], senders, S.appenders);
  const manyToMany = await appendLoad(b.inbox, { concurrency: S.appenders, durationMs: S.writeMs, senders, recipients: many });
  log(`${b.name}: ${Math.round(manyToMany.perSecond)} appends/s to ${S.recipients} devices`);
  const manyToOne = await appendLoad(b.inbox, { concurrency: S.appenders, durationMs: S.writeMs, senders, recipients: [one] });
  log(`${b.name}: ${Math.round(manyToOne.perSecond)} appends/s to ONE device`);
  const drainManyR = await drainMany(b.inbox, many, S.appenders);
  const drainOne = await drainDevice(b.inbox, one);
  log(`${b.name}: drain ${Math.round(drainManyR.perSecond)} entries/s (many), ${Math.round(drainOne.perSecond)} entries/s (one device)`);
  // + 1 each: the warm-up append
  if (drainManyR.entries !== manyToMany.appends + S.recipients || drainOne.entries !== manyToOne.appends + 1) {
    throw new Error(`${b.name}: drained ${drainManyR.entries}/${drainOne.entries}, appended ${manyToMany.appends}/${manyToOne.appends}`);
  }
  return { backend: b.name, manyToMany, manyToOne, drainMany: { ...drainManyR, devices: S.recipients, sessions: S.appenders }, drainOne };
}

// ---------------------------------------------------------------------------
// 2. drain after a long acked history

/** Appends `S.backlog` entries to each device (both at once, half the appenders each). */
async function backlogFor(inbox: InboxStore, list: readonly DeviceAddress[]): Promise<void> {
  const per = Math.max(1, Math.floor(S.appenders / list.length));
  const rs = await Promise.all(list.map((d) => appendLoad(inbox, { concurrency: per, durationMs: 600_000, maxAppends: S.backlog, senders, recipients: [d] })));
  for (const r of rs) if (r.appends !== S.backlog) throw new Error(`backlog: ${r.appends} of ${S.backlog}`);
}

async function measureDevice(b: InboxBackend, d: DeviceAddress): Promise<Omit<DeviceRound, 'drain'>> {
  const firstPageWarm = await firstPageLatency(() => b.inbox, d, S.warmSamples);
  const firstPageCold = await firstPageLatency(() => b.coldInbox(), d, S.coldSamples);
  return { firstPageWarm, firstPageCold };
}

async function historyRounds(b: InboxBackend, history: DeviceAddress, fill: FillHistoryResult): Promise<HistoryFigures> {
  const diskAfterFill = b.onDisk();
  const rounds: HistoryRound[] = [];
  let historyAcked = fill.acked;
  for (const settled of [false, true]) {
    const fresh = devices(1)[0]!;
    await backlogFor(b.inbox, [history, fresh]);
    const settle = settled ? await b.settle() : undefined;
    const disk = b.onDisk();
    const hm = await measureDevice(b, history);
    const fm = await measureDevice(b, fresh);
    // alternate the order between rounds so neither device always drains on a warmer cache
    const order = settled ? ['history', 'fresh'] : ['fresh', 'history'];
    const drains: Record<string, Awaited<ReturnType<typeof drainDevice>>> = {};
    for (const which of order) drains[which] = await drainDevice(b.inbox, which === 'history' ? history : fresh);
    const h = drains['history']!;
    const f = drains['fresh']!;
    if (h.entries !== S.backlog || f.entries !== S.backlog) throw new Error(`${b.name}: drained ${h.entries}/${f.entries} of ${S.backlog}`);
    const round: HistoryRound = {
      label: settled ? `after ${b.name === 'cassandra' ? 'memtable flush' : 'WAL checkpoint'}` : 'as written',
      ...(settle ? { settle } : {}),
      disk,
      historyAcked,
      backlog: S.backlog,
      history: { ...hm, drain: h },
      fresh: { ...fm, drain: f },
      drainRatio: h.perSecond / f.perSecond,
    };
    log(
      `${b.name} ${round.label}: drain fresh ${Math.round(f.perSecond)}/s, history ${Math.round(h.perSecond)}/s (ratio ${round.drainRatio.toFixed(2)}); ` +
        `first page warm p50 ${fm.firstPageWarm.p50Ms} / ${hm.firstPageWarm.p50Ms} ms${settle ? `; settle ${settle.ok ? 'ok' : 'NOT SEEN'} in ${Math.round(settle.ms)} ms` : ''}`,
    );
    rounds.push(round);
    historyAcked += S.backlog;
  }
  return { backend: b.name, fill, diskAfterFill, rounds };
}

// ---------------------------------------------------------------------------

/** Lines about tombstones that the Cassandra node logged during this run. */
function tombstoneLogLines(fromByte: number, keyspace: string): string[] {
  if (!existsSync(CASSANDRA_LOG)) return [];
  const text = readFileSync(CASSANDRA_LOG).subarray(fromByte).toString('utf8');
  return text.split('\n').filter((l) => /tombstone/i.test(l) && l.includes(keyspace));
}

async function main(): Promise<void> {
  const started = new Date();
  const loadAtStart = load();
  const logStart = existsSync(CASSANDRA_LOG) ? statSync(CASSANDRA_LOG).size : 0;
  log(`settings ${JSON.stringify(S)}; load ${loadAtStart.join(' ')}`);
  const disposers: Array<() => Promise<void>> = [];
  const write: WriteDrainFigures[] = [];
  const history: HistoryFigures[] = [];
  const prekeys: Array<PreKeyLoadResult & { store: string }> = [];
  let keyspace = '';
  let tombstoneLines: string[] = [];
  // Ctrl-C or a kill still removes the keyspace, the schema and the temp files
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: cleaning up`);
    void (async () => {
      for (const d of disposers.reverse()) await d().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const cass = await openCassandraBench();
    disposers.push(() => cass.dispose());
    keyspace = cass.keyspace;
    for (const open of [() => openSqliteInbox('normal'), () => openSqliteInbox('full')]) {
      const b = await open();
      disposers.push(() => b.dispose());
      write.push(await writeAndDrain(b));
    }
    write.push(await writeAndDrain(cass));

    // the two histories are built at the same time (each backend alone would take the whole budget twice)
    const sqliteH = await openSqliteInbox('normal', 'history');
    disposers.push(() => sqliteH.dispose());
    const fills = await Promise.all(
      [sqliteH, cass].map(async (b) => {
        const d = devices(1)[0]!;
        const fill = await fillHistory(b.inbox, d, {
          target: S.historyTarget,
          budgetMs: S.fillBudgetMs,
          concurrency: S.appenders,
          senders,
          onProgress: (_appended, acked) => log(`${b.name}: history ${acked.toLocaleString('en-US')} acked`),
        });
        log(`${b.name}: history of ${fill.acked} acked in ${fill.seconds.toFixed(0)} s (${Math.round(fill.appendsPerSecond)} appends/s), left ${fill.leftOver}`);
        if (fill.leftOver !== 0 || fill.acked !== fill.appended) throw new Error(`${b.name}: history left ${fill.leftOver}, acked ${fill.acked} of ${fill.appended}`);
        return { b, d, fill };
      }),
    );
    for (const { b, d, fill } of fills) history.push(await historyRounds(b, d, fill));
    tombstoneLines = tombstoneLogLines(logStart, keyspace);

    const pgb = await openPostgresBench(S.prekeyClients + 2);
    disposers.push(() => pgb.dispose());
    const prekeyOptions = { devices: S.prekeyDevices, perDevice: S.prekeysPerDevice, clients: S.prekeyClients, lowWater: S.prekeyLowWater };
    prekeys.push({ store: 'PostgreSQL', ...(await preKeyLoad(pgb.stores.prekeys, prekeyOptions)) });
    log(`PostgreSQL: ${Math.round(prekeys.at(-1)!.perSecond)} takes/s`);
    for (const sync of ['normal', 'full'] as const) {
      const s = await openSqliteInbox(sync, `prekeys-${sync}`);
      disposers.push(() => s.dispose());
      prekeys.push({ store: `SQLite (${sync})`, ...(await preKeyLoad(s.stores.prekeys, prekeyOptions)) });
      log(`SQLite ${sync}: ${Math.round(prekeys.at(-1)!.perSecond)} takes/s`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (stopping) return;
    for (const d of disposers.reverse()) await d().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
  }

  const json = {
    bench: 'stores',
    date: started.toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    load: { start: loadAtStart, end: load() },
    settings: S,
    write,
    history,
    cassandraTombstoneLogLines: tombstoneLines.length,
    cassandraTombstoneLogSample: tombstoneLines.slice(0, 3),
    prekeys,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  process.stdout.write(`${JSON.stringify(json)}\n\n`);
  process.stdout.write(`${markdown({ write, history, prekeys })}\n\n`);
  process.stdout.write(`load average ${loadAtStart.join(' ')} → ${json.load.end.join(' ')}; ${json.seconds} s; Cassandra log lines about tombstones in ${keyspace}: ${tombstoneLines.length}\n`);
}

await main();

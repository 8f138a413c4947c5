/**
 * Stores bench (issue 6): inbox write and drain rates on SQLite (synchronous
 * normal and full) and Cassandra, the same workload in the same run; drain
 * speed of a device with a long acked history against a fresh device (the
 * tombstone question: acks are range deletes, reads start at the acked
 * cursor); pre-key fetch rate on PostgreSQL under 8 concurrent clients
 * against the SQLite pre-key store. Prints one JSON line, then the tables.
 *
 *   node --import tsx bench/stores/run.ts [--million 1000000] [--fill-seconds 330] [--quick]
 *   node --import tsx bench/stores/run.ts --history-direct [--million 1000000] [--fill-seconds 240] [--backlog 10000]
 *
 * `--history-direct` runs only the Cassandra history question, with the
 * history written straight into the store's tables (see mainDirect and
 * ./history-direct.ts): a million acked entries in a few minutes.
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
import { CASSANDRA_LOG, openCassandraBench, openPostgresBench, openSqliteInbox, type DiskReport, type InboxBackend } from './backends.ts';
import { fillHistoryDirect, readHistograms, traceFirstPage, type DirectHistoryResult } from './history-direct.ts';
import { appendEach, appendLoad, devices, drainDevice, drainMany, fillHistory, firstPageLatency, type FillHistoryResult } from './inbox-workload.ts';
import { preKeyLoad, type PreKeyLoadResult } from './prekey-workload.ts';
import { markdown, type DeviceRound, type HistoryFigures, type HistoryRound, type WriteDrainFigures } from './report.ts';

const { values: flags } = parseArgs({
  options: {
    million: { type: 'string' },
    'fill-seconds': { type: 'string' },
    quick: { type: 'boolean', default: false },
    'history-direct': { type: 'boolean', default: false },
    backlog: { type: 'string' },
  },
});
const quick = flags.quick === true;
const direct = flags['history-direct'] === true;
const S = {
  appenders: 64,
  writeMs: quick ? 2_000 : 6_000,
  senders: 1_000,
  recipients: 1_000,
  historyTarget: Number(flags.million ?? (quick ? 20_000 : 1_000_000)),
  fillBudgetMs: Number(flags['fill-seconds'] ?? (quick ? 15 : direct ? 240 : 330)) * 1000,
  backlog: Number(flags.backlog ?? (quick ? 1_000 : direct ? 10_000 : 5_000)),
  warmSamples: quick ? 20 : 100,
  coldSamples: quick ? 10 : 50,
  prekeyDevices: quick ? 20 : 100,
  prekeysPerDevice: quick ? 50 : 100,
  prekeyClients: 8,
  prekeyLowWater: 5,
};
if (!Number.isSafeInteger(S.historyTarget) || S.historyTarget < 1) throw new Error('--million must be a positive integer');
if (!(S.fillBudgetMs > 0)) throw new Error('--fill-seconds must be positive');
if (!Number.isSafeInteger(S.backlog) || S.backlog < 1) throw new Error('--backlog must be a positive integer');

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

async function historyRounds(
  b: InboxBackend,
  history: DeviceAddress,
  fill: FillHistoryResult,
  /** Called in each round after the first-page samples, before the drains (the history device then has its backlog). */
  beforeDrain?: (label: string) => Promise<void>,
): Promise<HistoryFigures> {
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
    const label = settled ? `after ${b.name === 'cassandra' ? 'memtable flush' : 'WAL checkpoint'}` : 'as written';
    await beforeDrain?.(label);
    // alternate the order between rounds so neither device always drains on a warmer cache
    const order = settled ? ['history', 'fresh'] : ['fresh', 'history'];
    const drains: Record<string, Awaited<ReturnType<typeof drainDevice>>> = {};
    for (const which of order) drains[which] = await drainDevice(b.inbox, which === 'history' ? history : fresh);
    const h = drains['history']!;
    const f = drains['fresh']!;
    if (h.entries !== S.backlog || f.entries !== S.backlog) throw new Error(`${b.name}: drained ${h.entries}/${f.entries} of ${S.backlog}`);
    const round: HistoryRound = {
      label,
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

/**
 * `--history-direct` (Cassandra only): a history of `--million` acked entries
 * written straight into the store's tables and acked with the store's ack()
 * (./history-direct.ts says why that is the same tombstones), then the two
 * rounds of `historyRounds` with a `--backlog` (10,000) on that device and a
 * fresh one: as written, then after a forced memtable flush. Each round ends
 * with a traced first-page read of the history device.
 */
async function mainDirect(): Promise<void> {
  const started = new Date();
  const loadAtStart = load();
  const logStart = existsSync(CASSANDRA_LOG) ? statSync(CASSANDRA_LOG).size : 0;
  log(`history-direct; settings ${JSON.stringify({ historyTarget: S.historyTarget, writeBudgetMs: S.fillBudgetMs, backlog: S.backlog })}; load ${loadAtStart.join(' ')}`);
  const cass = await openCassandraBench();
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: dropping ${cass.keyspace}`);
    void cass.dispose().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let figures: HistoryFigures;
  let direct: DirectHistoryResult;
  const disk: Record<string, DiskReport> = {};
  const traces: Array<{ label: string; events: string[] }> = [];
  let tombstoneLines: string[] = [];
  let perRead: Record<string, unknown> = {};
  try {
    const d = devices(1)[0]!;
    direct = await fillHistoryDirect({
      client: cass.client,
      keyspace: cass.keyspace,
      inbox: cass.inbox,
      device: d,
      target: S.historyTarget,
      writeBudgetMs: S.fillBudgetMs,
      senders,
      onProgress: log,
    });
    log(
      `history-direct: ${direct.acked.toLocaleString('en-US')} acked (${direct.acks} acks in ${direct.ackSeconds.toFixed(0)} s, ${Math.round(direct.acksPerSecond)}/s), ` +
        `buckets ${direct.buckets.join(',')}, left ${direct.leftOver}`,
    );
    if (direct.leftOver !== 0) throw new Error(`history-direct: ${direct.leftOver} entries left after the acks`);
    disk['afterFill'] = cass.onDisk();
    traces.push({ label: 'after the acks', events: await traceFirstPage(cass.client, cass.keyspace, d) });
    const fill: FillHistoryResult = {
      target: direct.target,
      appended: direct.written,
      acked: direct.acked,
      acks: direct.acks,
      seconds: direct.seconds,
      appendsPerSecond: direct.rowsPerSecond,
      truncated: direct.truncated,
      leftOver: direct.leftOver,
    };
    figures = await historyRounds(cass, d, fill, async (label) => {
      // the first page of the backlog, from the cursor at the end of the acked history
      traces.push({ label: `${label}, backlog not drained yet`, events: await traceFirstPage(cass.client, cass.keyspace, d) });
      log(`trace (${label}): ${traces.at(-1)!.events.join(' | ')}`);
    });
    disk['end'] = cass.onDisk();
    tombstoneLines = tombstoneLogLines(logStart, cass.keyspace);
    perRead = await readHistograms(cass.client, cass.keyspace);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!stopping) await cass.dispose().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
  }
  if (stopping) return;
  const json = {
    bench: 'stores',
    mode: 'history-direct',
    date: started.toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    load: { start: loadAtStart, end: load() },
    settings: { historyTarget: S.historyTarget, writeBudgetMs: S.fillBudgetMs, backlog: S.backlog, warmSamples: S.warmSamples, coldSamples: S.coldSamples },
    direct,
    disk,
    history: [figures],
    traces,
    perRead,
    cassandraTombstoneLogLines: tombstoneLines.length,
    cassandraTombstoneLogSample: tombstoneLines.slice(0, 3),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  process.stdout.write(`${JSON.stringify(json)}\n\n`);
  process.stdout.write(`${markdown({ write: [], history: [figures], prekeys: [] }).split('\n').filter((l) => l.startsWith('| backend | history') || l.startsWith('| --- | --- |') || l.startsWith('| cassandra') || l.startsWith('|  |')).join('\n')}\n\n`);
  process.stdout.write(
    `history: ${direct.written.toLocaleString('en-US')} rows written in ${direct.writeSeconds.toFixed(0)} s (${Math.round(direct.rowsPerSecond)} rows/s, ${direct.batches} batches), ` +
      `${direct.acks} store acks in ${direct.ackSeconds.toFixed(0)} s; on disk after the acks ${disk['afterFill']!.files} SSTables ${(disk['afterFill']!.bytes / 1048576).toFixed(1)} MiB, ` +
      `at the end ${disk['end']!.files} SSTables ${(disk['end']!.bytes / 1048576).toFixed(1)} MiB\n`,
  );
  process.stdout.write(`inbox_entries reads in this run (system_views): ${JSON.stringify(perRead)}\n`);
  for (const t of traces) process.stdout.write(`trace of the history device's first page (${t.label}): ${t.events.join(' | ')}\n`);
  process.stdout.write(`load average ${loadAtStart.join(' ')} → ${json.load.end.join(' ')}; ${json.seconds} s; Cassandra log lines about tombstones in ${cass.keyspace}: ${tombstoneLines.length}\n`);
}

await (direct ? mainDirect() : main());

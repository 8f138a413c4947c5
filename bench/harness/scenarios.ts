/**
 * The steps of each scenario as one worker runs them on its shard.
 *
 * | scenario       | setup                           | ramp                   | hold                                    | storm |
 * | -------------- | ------------------------------- | ---------------------- | --------------------------------------- | ----- |
 * | idle           | register all (login `auth` only) | connect + log in all  | heartbeats only for holdS               |       |
 * | oneToOne       | same                            | same                   | pairs (2k → 2k+1) send, windowed or at a rate; measured after a warm-up | |
 * | offline        | register receivers (odd)        | senders (even) only    | fill each inbox, then receivers log in and drain | |
 * | reconnectStorm | same as idle                    | same                   | holdS idle                              | drop everyone, log in again |
 *
 * Message payloads are `[seq u32][sentAt f64][padding]`, stamped with this
 * worker's performance.now(): both ends of a pair live in the same worker
 * (with crossNode, on two different nodes of a cluster: sharding.ts).
 */
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import type { DeliverFrame } from '../../protocol/index.ts';
import { openDevice, type BenchDevice, type Credentials, type DeviceOptions, type Login } from './bench-device.ts';
import type { BenchConfig } from './config.ts';
import { paced, sleep } from './pacer.ts';
import { routeOf, type WorkerShard } from './sharding.ts';
import type { WorkerStats } from './worker-stats.ts';

/** A worker's state over its steps. */
export interface WorkerContext {
  readonly config: BenchConfig;
  readonly shard: WorkerShard;
  readonly workers: number;
  readonly addresses: readonly string[];
  readonly targets: readonly string[];
  readonly stats: WorkerStats;
  readonly registrationId: number;
  /** By local index (global index − shard.first). */
  readonly devices: (BenchDevice | undefined)[];
  readonly credentials: (Credentials | undefined)[];
  stopping: boolean;
}

const HANDSHAKE_TIMEOUT_MS = 30_000;

/** Where local device k connects; `hop` counts its reconnections (a storm moves it to another node with crossNode). */
function deviceOptions(ctx: WorkerContext, k: number, hop = 0): DeviceOptions {
  const route = routeOf(ctx.shard.first + k, ctx.addresses, ctx.targets, { crossNode: ctx.config.crossNode, hop });
  return {
    url: route.target, localAddress: route.address, registrationId: ctx.registrationId,
    heartbeats: ctx.config.heartbeats, timeoutMs: HANDSHAKE_TIMEOUT_MS,
  };
}

/** Local indices that connect in the ramp. */
function rampIndices(ctx: WorkerContext): number[] {
  const all = Array.from({ length: ctx.shard.count }, (_, k) => k);
  return ctx.config.scenario === 'offline' ? all.filter((k) => k % 2 === 0) : all;
}

/** Local indices whose accounts are registered in the setup step. */
export function setupIndices(config: BenchConfig, count: number): number[] {
  const all = Array.from({ length: count }, (_, k) => k);
  if (config.scenario === 'offline') return all.filter((k) => k % 2 === 1 || config.login === 'auth');
  return config.login === 'auth' ? all : [];
}

const perWorkerRate = (ctx: WorkerContext, total: number) => (total > 0 ? total / ctx.workers : 0);

function track(ctx: WorkerContext, k: number, device: BenchDevice): void {
  ctx.devices[k] = device;
  ctx.credentials[k] = device.credentials;
  ctx.stats.open++;
  device.onClose = () => { ctx.stats.open--; };
}

/** Registers accounts and closes their sockets again (what `auth` logins and offline receivers need). */
export async function setup(ctx: WorkerContext): Promise<void> {
  const indices = setupIndices(ctx.config, ctx.shard.count);
  ctx.stats.phases.setupStart = Date.now();
  await paced(indices.length, perWorkerRate(ctx, ctx.config.rampRate), ctx.config.rampConcurrency, async (j) => {
    const k = indices[j]!;
    const device = await openDevice(deviceOptions(ctx, k), { register: true, identity: IdentityKeyPair.generate() }, ctx.stats);
    if (device === undefined) return;
    ctx.credentials[k] = device.credentials;
    ctx.stats.registered++;
    device.drop();
  }, () => ctx.stopping);
  ctx.stats.phases.setupEnd = Date.now();
}

/** Logs in with the account made in setup, or registers a new one. */
function loginFor(ctx: WorkerContext, k: number): Login {
  const credentials = ctx.credentials[k];
  return credentials !== undefined ? { register: false, credentials } : { register: true, identity: IdentityKeyPair.generate() };
}

/** Opens one device (after `hop` reconnections), records its login latency and keeps it. */
async function connect(ctx: WorkerContext, k: number, latency: 'login' | 'reconnect', since: number, init?: (device: BenchDevice) => void, hop = 0): Promise<BenchDevice | undefined> {
  const device = await openDevice(deviceOptions(ctx, k, hop), loginFor(ctx, k), ctx.stats, init);
  if (device === undefined) return undefined;
  ctx.stats.authenticated++;
  ctx.stats[latency].recordMs(performance.now() - since);
  if (ctx.stopping) {
    device.drop();
    return undefined;
  }
  track(ctx, k, device);
  return device;
}

export async function ramp(ctx: WorkerContext): Promise<void> {
  const indices = rampIndices(ctx);
  ctx.stats.planned = ctx.shard.count;
  ctx.stats.phases.rampStart = Date.now();
  await paced(indices.length, perWorkerRate(ctx, ctx.config.rampRate), ctx.config.rampConcurrency, async (j) => {
    await connect(ctx, indices[j]!, 'login', performance.now());
  }, () => ctx.stopping);
  ctx.stats.phases.rampEnd = Date.now();
}

/** Sleeps up to `ms`, waking early when the worker is stopping. */
async function holdFor(ctx: WorkerContext, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!ctx.stopping && performance.now() < until) await sleep(Math.min(200, until - performance.now()));
}

export async function hold(ctx: WorkerContext): Promise<void> {
  switch (ctx.config.scenario) {
    case 'oneToOne':
      await pairs(ctx);
      break;
    case 'offline':
      await offline(ctx);
      break;
    default:
      ctx.stats.phases.measureStart = Date.now();
      await holdFor(ctx, ctx.config.holdS * 1000);
      ctx.stats.phases.measureEnd = Date.now();
  }
  ctx.stats.openAtHoldEnd = ctx.stats.open;
}

function payload(ctx: WorkerContext, seq: number, sentAt: number): Buffer {
  const p = Buffer.allocUnsafe(12 + ctx.config.payloadBytes);
  p.writeUInt32BE(seq >>> 0, 0);
  p.writeDoubleLE(sentAt, 4);
  p.fill(0x61, 12);
  return p;
}

function stampOf(frame: DeliverFrame): number {
  const c = frame.ciphertext;
  return Buffer.from(c.buffer, c.byteOffset, c.byteLength).readDoubleLE(4);
}

/** oneToOne: each pair keeps `window` messages in flight (peak), or the worker's share of `rate` is sent on a schedule. */
async function pairs(ctx: WorkerContext): Promise<void> {
  const { config, stats } = ctx;
  const pairCount = Math.floor(ctx.shard.count / 2);
  const inFlight = new Int32Array(pairCount);
  const nextSeq = new Uint32Array(pairCount);
  let measuring = false;
  let running = true;
  const live: number[] = [];
  const sendOne = (p: number, at: number) => {
    const sender = ctx.devices[2 * p];
    const receiver = ctx.credentials[2 * p + 1];
    if (sender === undefined || !sender.open || receiver === undefined) return false;
    inFlight[p]!++;
    const seq = nextSeq[p]!++;
    sender.sendMessage(receiver.userId, `${ctx.shard.first + 2 * p}.${seq}`, payload(ctx, seq, at));
    stats.sent++;
    return true;
  };
  for (let p = 0; p < pairCount; p++) {
    const receiver = ctx.devices[2 * p + 1];
    const sender = ctx.devices[2 * p];
    if (receiver === undefined || sender === undefined) continue;
    live.push(p);
    // A refused send (counted by code) frees its window slot; the load goes on with a new message.
    sender.onRefused = () => {
      inFlight[p]!--;
      if (running && config.rate === 0) sendOne(p, performance.now());
    };
    receiver.onDeliver = (frame) => {
      inFlight[p]!--;
      stats.deliveredTotal++;
      if (measuring) {
        stats.delivered++;
        stats.message.recordMs(performance.now() - stampOf(frame));
      }
      if (running && config.rate === 0) sendOne(p, performance.now());
    };
  }
  let timer: NodeJS.Timeout | undefined;
  if (config.rate === 0) {
    for (const p of live) for (let w = 0; w < config.window; w++) sendOne(p, performance.now());
  } else if (live.length > 0) {
    // Open loop: latency counts from the scheduled time, so a stalled server is not hidden (coordinated omission).
    const start = performance.now();
    const intervalMs = 1000 / ((config.rate * ctx.shard.count) / config.connections);
    let due = 0;
    let cursor = 0;
    timer = setInterval(() => {
      const target = Math.floor((performance.now() - start) / intervalMs);
      for (let tries = 0; due < target && tries < live.length * 2; tries++) {
        const p = live[cursor++ % live.length]!;
        if (inFlight[p]! >= config.window) continue;
        if (sendOne(p, start + due * intervalMs)) due++;
      }
    }, 1);
  }
  const warmupMs = Math.min(2000, config.holdS * 200);
  await holdFor(ctx, warmupMs);
  measuring = true;
  stats.phases.measureStart = Date.now();
  await holdFor(ctx, config.holdS * 1000);
  measuring = false;
  stats.phases.measureEnd = Date.now();
  running = false;
  if (timer !== undefined) clearInterval(timer);
  // Let what is in flight arrive (bounded), so the server is not cut mid-burst.
  for (let i = 0; i < 20 && inFlight.some((x) => x > 0) && !ctx.stopping; i++) await sleep(100);
}

/** offline: senders fill their receiver's inbox, then receivers log in and drain it. */
async function offline(ctx: WorkerContext): Promise<void> {
  const { config, stats } = ctx;
  const pairCount = Math.floor(ctx.shard.count / 2);
  let expected = 0;
  let acknowledged = 0;
  await Promise.all(Array.from({ length: pairCount }, async (_, p) => {
    const sender = ctx.devices[2 * p];
    const receiver = ctx.credentials[2 * p + 1];
    if (sender === undefined || receiver === undefined) return;
    let sent = 0;
    let inFlight = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (inFlight < config.window && sent < config.messagesPerInbox && sender.open && !ctx.stopping) {
          inFlight++;
          sender.sendMessage(receiver.userId, `${ctx.shard.first + 2 * p}.${sent}`, payload(ctx, sent, performance.now()));
          sent++;
          stats.sent++;
          expected++;
        }
        if ((inFlight === 0 && sent >= config.messagesPerInbox) || !sender.open || ctx.stopping) resolve();
      };
      sender.onSent = () => {
        inFlight--;
        acknowledged++;
        pump();
      };
      sender.onRefused = () => {
        inFlight--;
        pump();
      };
      sender.onClose = () => { ctx.stats.open--; resolve(); };
      pump();
    });
  }));
  stats.phases.measureStart = Date.now();
  let drained!: () => void;
  const allDrained = new Promise<void>((resolve) => { drained = resolve; });
  if (acknowledged === 0) drained();
  const receivers = Array.from({ length: pairCount }, (_, p) => 2 * p + 1).filter((k) => ctx.credentials[k] !== undefined);
  const loggedIn = paced(receivers.length, perWorkerRate(ctx, config.rampRate), config.rampConcurrency, async (j) => {
    await connect(ctx, receivers[j]!, 'login', performance.now(), (device) => {
      device.onDeliver = (frame) => {
        stats.deliveredTotal++;
        stats.delivered++;
        stats.message.recordMs(performance.now() - stampOf(frame));
        if (stats.deliveredTotal >= acknowledged) drained();
      };
    });
  }, () => ctx.stopping);
  const bound = sleep((config.holdS + 60) * 1000);
  await Promise.race([Promise.all([loggedIn, allDrained]), bound, stoppedPromise(ctx)]);
  stats.phases.measureEnd = Date.now();
}

async function stoppedPromise(ctx: WorkerContext): Promise<void> {
  while (!ctx.stopping) await sleep(200);
}

/**
 * reconnectStorm: drop every open device at once, then log each in again;
 * latency from the drop. With crossNode each logs in on the next node, where
 * its session was not (clustered: the cluster-wide claim takes it over).
 */
export async function storm(ctx: WorkerContext): Promise<void> {
  const indices = ctx.devices.flatMap((d, k) => (d !== undefined && d.open ? [k] : []));
  ctx.stats.phases.stormStart = Date.now();
  const droppedAt = performance.now();
  for (const k of indices) ctx.devices[k]!.drop();
  await paced(indices.length, perWorkerRate(ctx, ctx.config.reconnectRate), ctx.config.rampConcurrency, async (j) => {
    const device = await connect(ctx, indices[j]!, 'reconnect', droppedAt, undefined, 1);
    if (device !== undefined) ctx.stats.reconnected++;
  }, () => ctx.stopping);
  ctx.stats.phases.stormEnd = Date.now();
  ctx.stats.openAtHoldEnd = ctx.stats.open;
}

/** Drops every device (end of run). */
export function dropAll(ctx: WorkerContext): void {
  ctx.stopping = true;
  for (const d of ctx.devices) if (d !== undefined && d.open) d.drop();
}

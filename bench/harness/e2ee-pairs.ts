/**
 * oneToOne with end-to-end encryption (`--e2ee`): each device is a
 * SecureClient (libsignal identity, pre-key upload at registration, PQXDH
 * session on the first message, Double Ratchet per message, local SQLite
 * store in a temporary folder), so the run measures what encryption costs the
 * client (CPU in the hold step, latency) next to the same run without it.
 * SecureClient has no source-address option: small scale only (config bound).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SecureClient } from '../../client/e2ee/index.ts';
import { isParleyError } from '../../protocol/errors.ts';
import { paced, sleep } from './pacer.ts';
import { routeOf } from './sharding.ts';
import type { WorkerContext } from './scenarios.ts';

interface SecureState {
  readonly dir: string;
  readonly clients: (SecureClient | undefined)[];
}

const states = new WeakMap<WorkerContext, SecureState>();

const codeOf = (err: unknown) => `e2ee:${isParleyError(err) ? err.code : err instanceof Error ? err.name : 'error'}`;

/** Registers one SecureClient per connection of the shard (paced like the plain ramp). */
export async function rampSecure(ctx: WorkerContext): Promise<void> {
  const state: SecureState = { dir: mkdtempSync(path.join(tmpdir(), `parley-bench-e2ee-${ctx.shard.index}-`)), clients: new Array(ctx.shard.count).fill(undefined) };
  states.set(ctx, state);
  ctx.stats.planned = ctx.shard.count;
  ctx.stats.phases.rampStart = Date.now();
  await paced(ctx.shard.count, ctx.config.rampRate / ctx.workers, Math.min(ctx.config.rampConcurrency, 16), async (k) => {
    const started = performance.now();
    ctx.stats.opened++;
    try {
      const url = routeOf(ctx.shard.first + k, ctx.addresses, ctx.targets, { crossNode: ctx.config.crossNode }).target;
      const client = await SecureClient.register({ url, storePath: path.join(state.dir, `${k}.sqlite`), reconnect: false, clientInfo: 'parley-bench-e2ee' });
      state.clients[k] = client;
      ctx.credentials[k] = undefined;
      ctx.stats.authenticated++;
      ctx.stats.open++;
      ctx.stats.login.recordMs(performance.now() - started);
    } catch (err) {
      ctx.stats.error(codeOf(err));
    }
  }, () => ctx.stopping);
  ctx.stats.phases.rampEnd = Date.now();
}

/** Pairs (2k → 2k+1) keep `window` encrypted messages in flight for holdS after a warm-up. */
export async function pairsSecure(ctx: WorkerContext): Promise<void> {
  const state = states.get(ctx);
  if (state === undefined) return;
  const { config, stats } = ctx;
  let measuring = false;
  let running = true;
  const loops: Promise<void>[] = [];
  for (let p = 0; p < Math.floor(ctx.shard.count / 2); p++) {
    const sender = state.clients[2 * p];
    const receiver = state.clients[2 * p + 1];
    if (sender === undefined || receiver === undefined) continue;
    const to = receiver.device.userId;
    let inFlight = 0;
    const sendOne = () => {
      inFlight++;
      stats.sent++;
      sender.send(to, { type: 'text', text: String(performance.now()) }).catch((err: unknown) => {
        inFlight--;
        stats.error(codeOf(err));
      });
    };
    for (let w = 0; w < config.window; w++) sendOne();
    loops.push((async () => {
      for await (const m of receiver.messages()) {
        m.ack();
        inFlight--;
        stats.deliveredTotal++;
        if (measuring && m.content.type === 'text') {
          stats.delivered++;
          stats.message.recordMs(performance.now() - Number(m.content.text));
        }
        if (running) sendOne();
        else if (inFlight <= 0) return;
      }
    })().catch((err: unknown) => { stats.error(codeOf(err)); }));
  }
  await sleep(Math.min(2000, config.holdS * 200));
  measuring = true;
  stats.phases.measureStart = Date.now();
  const until = performance.now() + config.holdS * 1000;
  while (!ctx.stopping && performance.now() < until) await sleep(200);
  measuring = false;
  stats.phases.measureEnd = Date.now();
  running = false;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  stats.openAtHoldEnd = stats.open;
}

/** Closes every SecureClient and removes their stores. */
export async function closeSecure(ctx: WorkerContext): Promise<void> {
  const state = states.get(ctx);
  if (state === undefined) return;
  await Promise.race([Promise.all(state.clients.map((c) => c?.close().catch(() => undefined))), sleep(5000)]);
  rmSync(state.dir, { recursive: true, force: true });
}

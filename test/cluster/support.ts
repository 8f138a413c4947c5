/**
 * Test clusters in one JS process: several ClusterNodes over an InProcessBus and
 * a MemoryStore, with short heartbeat timing. `crash(node)` cuts a node off the
 * bus and the store (as a dead process looks to the others). Tests synchronise
 * on membership and placement events, and on calls.
 */
import { InProcessBus, MemoryStore, startClusterNode, type ClusterNode, type InProcessEndpoint, type MemoryStoreClient } from '../../cluster/index.ts';
import { call, cast, castSoon, send, type Behaviour, type Ref } from '../../supervisors/index.ts';

/** Fast timing for tests: fence/down bounds keep the order the guarantees need. */
export const TEST_MEMBERSHIP = { heartbeatMs: 50, downAfterMs: 600, fenceAfterMs: 300 } as const;

let seq = 0;

export interface TestCluster {
  readonly nodes: ClusterNode[];
  readonly endpoints: Map<string, InProcessEndpoint>;
  readonly stores: Map<string, MemoryStoreClient>;
  crash(node: ClusterNode): void;
  stop(): Promise<void>;
}

/** Starts `n` nodes and waits until each sees all the others. */
export async function startTestCluster(n: number): Promise<TestCluster> {
  const bus = new InProcessBus();
  const store = new MemoryStore();
  const cluster = `t${process.pid}x${++seq}`;
  const endpoints = new Map<string, InProcessEndpoint>();
  const stores = new Map<string, MemoryStoreClient>();
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${cluster}-n${i}`;
    const ep = bus.endpoint();
    const st = store.client();
    endpoints.set(name, ep);
    stores.set(name, st);
    nodes.push(await startClusterNode({ node: name, transport: ep, store: st, cluster, membership: TEST_MEMBERSHIP }));
  }
  const names = nodes.map((x) => x.name);
  await Promise.all(nodes.map((x) => x.membership.waitFor(names)));
  return {
    nodes,
    endpoints,
    stores,
    crash(node) {
      endpoints.get(node.name)!.disconnect();
      stores.get(node.name)!.disconnect();
    },
    async stop() {
      await Promise.all(nodes.map((x) => x.stop()));
    },
  };
}

export type EchoCall = { readonly echo: unknown } | 'seen' | { readonly sleepForever: true } | { readonly callTo: Ref; readonly req: EchoCall; readonly timeoutMs?: number } | { readonly sendAll: Ref; readonly count: number } | { readonly castAll: Ref; readonly msgs: readonly { readonly soon: boolean; readonly m: unknown }[] } | { readonly monitor: Ref } | { readonly link: Ref } | { readonly exitTo: Ref; readonly reason: unknown };

/** A process that echoes calls, records handleInfo/handleCast, and acts on request from inside its callbacks. */
export const ECHO: Behaviour<{ seen: unknown[] }, { trap?: boolean } | undefined, { call: EchoCall; reply: unknown; cast: unknown; info: unknown }> = {
  name: 'echo',
  init(args, ctx) {
    if (args?.trap === true) ctx.trapExit(true);
    return { ok: { seen: [] } };
  },
  async handleCall(req, _from, state, ctx) {
    if (req === 'seen') return { reply: state.seen, state };
    if ('echo' in req) return { reply: req.echo, state };
    if ('sleepForever' in req) return { noreply: state };
    if ('callTo' in req) {
      // Issued before any await: the runtime knows the caller's node only while the callback runs synchronously.
      const pending = call(req.callTo, req.req, req.timeoutMs);
      try {
        return { reply: { ok: await pending }, state };
      } catch (e) {
        return { reply: { code: (e as { code: string }).code, reason: (e as { callReason?: unknown }).callReason }, state };
      }
    }
    if ('castAll' in req) {
      for (const { soon, m } of req.msgs) (soon ? castSoon : cast)(req.castAll, m);
      return { reply: 'sent', state };
    }
    if ('sendAll' in req) {
      for (let i = 0; i < req.count; i++) send(req.sendAll, i);
      return { reply: 'sent', state };
    }
    if ('monitor' in req) return { reply: ctx.monitor(req.monitor), state };
    if ('link' in req) {
      ctx.link(req.link);
      return { reply: 'linked', state };
    }
    ctx.exit(req.exitTo, req.reason as never);
    return { reply: 'sent', state };
  },
  handleCast(msg, state) {
    state.seen.push({ cast: msg });
    return { noreply: state };
  },
  handleInfo(msg, state) {
    state.seen.push(msg);
    return { noreply: state };
  },
};

/** Polls `check` on every turn of the event loop until it holds (bounded). */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Re-runs `probe` (awaited, one at a time) until `ok` holds for its result (bounded); returns it. */
export async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

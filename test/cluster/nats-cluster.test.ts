/**
 * The cluster over real NATS: two nodes, each with its own connection and
 * JetStream KV store, in this JS process. Remote call, names across nodes, and
 * node down detection. The restart test starts its own nats-server on a free
 * port with a temporary store directory and stops it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { call, okRef, start } from '../../supervisors/index.ts';
import { connectNats, JetStreamStore, NatsTransport, startClusterNode, type ClusterNode } from '../../cluster/index.ts';
import { serviceSettings } from '../../scripts/services.ts';
import { ECHO, until } from './support.ts';

const MEMBERSHIP = { heartbeatMs: 100, downAfterMs: 1_000, fenceAfterMs: 500 } as const;

async function natsNode(url: string, name: string, cluster: string, bucket: string): Promise<{ node: ClusterNode; nc: NatsConnection }> {
  const nc = await connectNats(url, name);
  const store = await JetStreamStore.open(nc, bucket);
  const node = await startClusterNode({ node: name, transport: new NatsTransport(nc), store, cluster, membership: MEMBERSHIP });
  return { node, nc };
}

test('nats cluster - remote call, a name reachable from the other node, down on leave', async () => {
  const url = serviceSettings().natsUrl;
  const tag = `${process.pid}x${Date.now()}`;
  const cluster = `pt${tag}`;
  const bucket = `parley_test_${tag}`;
  const a = await natsNode(url, `a${tag}`, cluster, bucket);
  const b = await natsNode(url, `b${tag}`, cluster, bucket);
  try {
    await Promise.all([a.node.membership.waitFor([b.node.name]), b.node.membership.waitFor([a.node.name])]);
    const pa = okRef(await start(a.node.system, ECHO, undefined));
    const pb = okRef(await start(b.node.system, ECHO, undefined, { name: 'device:x' }));
    await until(() => a.node.registry.whereis('device:x') !== undefined, 'name replicated over KV');
    assert.deepEqual(a.node.registry.whereis('device:x'), pb);
    assert.deepEqual(await call(pa, { callTo: pb, req: { echo: { bytes: new Uint8Array([1, 2]) } } }), { ok: { bytes: new Uint8Array([1, 2]) } });
    const pa2 = okRef(await start(a.node.system, ECHO, undefined));
    assert.deepEqual(await a.node.registry.claim('device:x', pa2), { ok: false, holder: pb });
    await b.node.stop();
    await a.node.membership.waitDown(b.node.name);
    await until(() => a.node.registry.whereis('device:x') === undefined, 'name gone with its node');
  } finally {
    await a.node.stop();
    await b.node.stop();
    const jsm = await a.nc.jetstreamManager();
    await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
    await a.nc.close();
    await b.nc.close();
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startNatsServer(port: number, dir: string): Promise<ChildProcess> {
  const p = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    p.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Server is ready')) resolve();
    });
    p.once('exit', (code) => reject(new Error(`nats-server exited ${code}: ${out}`)));
  });
  return p;
}

async function stopNatsServer(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

test('nats cluster - a NATS restart: nodes reconnect, see each other again, and remote calls work', async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-nats-'));
  let server = await startNatsServer(port, dir);
  const url = `nats://127.0.0.1:${port}`;
  const tag = `${process.pid}`;
  const a = await natsNode(url, `ra${tag}`, 'prestart', 'parley_restart');
  const b = await natsNode(url, `rb${tag}`, 'prestart', 'parley_restart');
  try {
    await Promise.all([a.node.membership.waitFor([b.node.name]), b.node.membership.waitFor([a.node.name])]);
    const pa = okRef(await start(a.node.system, ECHO, undefined));
    const pb = okRef(await start(b.node.system, ECHO, undefined));
    assert.deepEqual(await call(pa, { callTo: pb, req: { echo: 1 } }), { ok: 1 });
    const fenced = new Promise<void>((resolve) => a.node.membership.onEvent((e) => e.type === 'fenced' && resolve()));
    await stopNatsServer(server);
    await fenced; // a has noticed it lost the cluster
    assert.deepEqual(await call(pa, { callTo: pb, req: { echo: 2 } }), { code: 'PARLEY_ERR_CALL_EXIT', reason: 'noconnection' });
    server = await startNatsServer(port, dir);
    await Promise.all([a.node.membership.waitFor([b.node.name], 20_000), b.node.membership.waitFor([a.node.name], 20_000)]);
    assert.deepEqual(await call(pa, { callTo: pb, req: { echo: 3 } }), { ok: 3 });
  } finally {
    await a.node.stop();
    await b.node.stop();
    await a.nc.close();
    await b.nc.close();
    await stopNatsServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
});

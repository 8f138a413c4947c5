import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import WebSocket from 'ws';
import { embeddedNodeEnv } from '../support/test-node.ts';

interface StartedNode {
  child: ChildProcess;
  http: string;
  gateway: string;
  exit: Promise<number | null>;
  output: () => string;
}

/** Starts `parley start` as a real process and waits for its "listening" line. */
async function startNodeProcess(dataDir: string, extraArgs: string[] = []): Promise<StartedNode> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'start', '--http-port', '0', '--gateway-port', '0', '--data-dir', dataDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: embeddedNodeEnv(),
  });
  let out = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<{ http: string; gateway: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /gateway (ws:\/\/\S+)\s+health (http:\/\/\S+)\/healthz/.exec(out);
      if (m) resolve({ gateway: m[1]!, http: m[2]! });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then((code) => reject(new Error(`node exited with ${code} before listening:\n${out}`)));
  });
  const addr = await listening;
  return { child, ...addr, exit, output: () => out };
}

test('node - answers /healthz and /readyz, accepts WebSocket upgrades, and on SIGTERM closes sockets with 1001 and exits 0', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-node-'));
  const node = await startNodeProcess(dataDir);
  try {
    const health = await fetch(`${node.http}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    const ready = await fetch(`${node.http}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await fetch(`${node.http}/nope`)).status, 404);

    const ws = new WebSocket(node.gateway);
    await once(ws, 'open');
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    node.child.kill('SIGTERM');
    const [code, reason] = await closed;
    assert.equal(code, 1001, 'going away');
    assert.equal(reason.toString(), 'server shutting down');
    assert.equal(await node.exit, 0);
    assert.match(node.output(), /"event":"node.stopped"/);
  } finally {
    node.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('node - SIGINT also shuts down gracefully with exit 0', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-node-'));
  const node = await startNodeProcess(dataDir);
  try {
    node.child.kill('SIGINT');
    assert.equal(await node.exit, 0);
    assert.match(node.output(), /"reason":"SIGINT"/);
  } finally {
    node.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('node - an invalid setting stops start-up with PARLEY_ERR_CONFIG and exit 1', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'start', '--http-port', 'nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 1);
  assert.match(err, /PARLEY_ERR_CONFIG: invalid httpPort \(PARLEY_HTTP_PORT\)/);
});

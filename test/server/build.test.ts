/**
 * The compiled build that `npm start` runs (`npm run build` → dist/, no tsx at
 * run time): it starts on the embedded store, and its writer thread (a worker
 * started from the compiled module, store/embedded/thread-entry.ts) commits
 * what clients send. A node process cannot load a `.ts` file without tsx, so a
 * module of the build that still pointed at a source file would fail here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildDist, REPO_ROOT } from '../../bench/lib/build.ts';
import { closeAllClients, registerClient, spawnNodeProcess, take } from '../support/test-node.ts';

test('build - the compiled node serves clients: register, send, sent, deliver in order, clean stop', { timeout: 120_000 }, async () => {
  buildDist();
  assert.ok(existsSync(path.join(REPO_ROOT, 'dist/store/embedded/sqlite-writer-thread.js')), 'the writer thread is compiled');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-build-'));
  const node = await spawnNodeProcess(dataDir, 0, {}, [], true);
  try {
    const alice = await registerClient(node.url);
    const bob = await registerClient(node.url);
    const ids = ['b1', 'b2', 'b3'];
    const sent = await Promise.all(ids.map((messageId) => alice.client.send(bob.credentials.userId, new TextEncoder().encode(messageId), { messageId })));
    assert.deepEqual(sent.map((r) => r.messageId), ids);
    const got = await take(bob.client.messages(), ids.length);
    assert.deepEqual(got.map((m) => m.messageId), ids, 'delivered once each, in send order');
    for (const m of got) m.ack();
    await closeAllClients();
    node.child.kill('SIGTERM');
    assert.equal(await node.exit, 0, `clean exit; output:\n${node.output()}`);
  } finally {
    await closeAllClients();
    node.child.kill('SIGKILL');
    await node.exit;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeAllClients, registerClient, spawnNodeProcess, type NodeProcess } from '../support/test-node.ts';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('crash - kill -9 of the node mid-stream: every message that got `sent` arrives exactly once, and the client retries the rest', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-crash-'));
  const port = await freePort();
  let node: NodeProcess = await spawnNodeProcess(dataDir, port);
  try {
    const alice = await registerClient(node.url);
    const bob = await registerClient(node.url);
    const total = 600;
    // Sends are issued at most `ahead` beyond what bob received AND beyond
    // what alice got `sent` for (the node may deliver before the commit), so
    // when the node is killed (bob at 200) at least 200 were issued, hence at
    // least 200 - ahead confirmed, and at most 200 + ahead issued: a kill
    // mid-stream by construction, however fast the node delivers or confirms.
    const ahead = 100;
    const confirmed = new Set<string>();
    const sends: Promise<unknown>[] = [];
    const received: string[] = [];
    let issued = 0;
    const topUp = () => {
      while (issued < total && issued < Math.min(received.length, confirmed.size) + ahead) {
        const i = issued++;
        sends.push(alice.client.send(bob.credentials.userId, new TextEncoder().encode(`crash ${i}`), { messageId: `c${i}` }).then((r) => {
          confirmed.add(r.messageId);
          topUp();
          return r;
        }));
      }
    };
    topUp();
    let killedAfter = -1;
    let restarted: Promise<void> | undefined;
    for await (const m of bob.client.messages()) {
      received.push(m.messageId);
      m.ack();
      topUp();
      if (received.length === 200 && killedAfter < 0) {
        // Mid-stream: some sends are confirmed, some in flight, some not yet sent.
        killedAfter = confirmed.size;
        node.child.kill('SIGKILL');
        restarted = node.exit.then(async () => {
          node = await spawnNodeProcess(dataDir, port);
        });
      }
      if (received.length === total) break;
    }
    await restarted;
    assert.ok(killedAfter > 0 && killedAfter < total, `the kill happened mid-stream (${killedAfter} confirmed then)`);
    assert.deepEqual(received, Array.from({ length: total }, (_, i) => `c${i}`), 'every message once, in send order');
    await Promise.all(sends);
    assert.equal(confirmed.size, total, 'every send was eventually confirmed');
  } finally {
    await closeAllClients();
    node.child.kill('SIGKILL');
    await node.exit;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/**
 * SqliteInboxStore - durability under kill -9. A child process appends to a
 * file database and reports each returned id; the parent SIGKILLs it after
 * KILL_AFTER reported lines, reopens the database and checks that every
 * reported append is there, in order, exactly once, and that every batch is
 * whole (both copies or neither). Run for synchronous=FULL (the default) and
 * NORMAL: both must survive a process kill (they differ on power loss, which a
 * test here cannot produce).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import { INBOX_CURSOR_START, INBOX_MAX_READ_LIMIT, type DeviceAddress, type InboxEntry, type InboxStore } from '../../store/types.ts';

const KILL_AFTER = 60;
const CHILD = fileURLToPath(new URL('./fixtures/sqlite-durability-child.ts', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'parley-sqlite-durability-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(inbox: InboxStore, d: DeviceAddress): Promise<InboxEntry[]> {
  const out: InboxEntry[] = [];
  let cursor = INBOX_CURSOR_START;
  for (;;) {
    const page = await inbox.read(d, cursor, INBOX_MAX_READ_LIMIT);
    out.push(...page);
    if (page.length < INBOX_MAX_READ_LIMIT) return out;
    cursor = page[page.length - 1]!.id;
  }
}

function seqOf(e: InboxEntry): number {
  return new DataView(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).getUint32(0);
}

for (const synchronous of ['full', 'normal'] as const) {
  test(`SqliteInboxStore - every append reported before kill -9 survives (synchronous=${synchronous})`, async (t) => {
    const file = path.join(dir, `durability-${synchronous}.db`);
    const recipient = randomUUID();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, recipient, randomUUID(), synchronous], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );

    const reported: { seq: number; id1: string; id2: string }[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      const [seq, id1, id2] = line.split(' ');
      reported.push({ seq: Number(seq), id1: id1!, id2: id2! });
      if (reported.length === KILL_AFTER) child.kill('SIGKILL');
    }
    const { signal } = await exited;
    assert.equal(signal, 'SIGKILL', 'the child was killed, not finished');
    assert.ok(reported.length >= KILL_AFTER);
    assert.deepEqual(reported.map((r) => r.seq), Array.from({ length: reported.length }, (_, i) => i + 1));

    const stores = await openEmbeddedStores({ path: file });
    try {
      const e1 = await readAll(stores.inbox, { userId: recipient, deviceId: 1 });
      const e2 = await readAll(stores.inbox, { userId: recipient, deviceId: 2 });
      // device 1: the reported ids are a prefix of what is stored, in order, once
      assert.deepEqual(e1.slice(0, reported.length).map((e) => e.id), reported.map((r) => r.id1));
      assert.deepEqual(e2.slice(0, reported.length).map((e) => e.id), reported.map((r) => r.id2));
      // at most one append committed after the last line was printed
      assert.ok(e1.length - reported.length <= 1, `${e1.length} stored vs ${reported.length} reported`);
      // no gaps, no duplicates, and every batch whole on both devices
      assert.deepEqual(e1.map(seqOf), Array.from({ length: e1.length }, (_, i) => i + 1));
      assert.deepEqual(e2.map(seqOf), e1.map(seqOf));
      assert.deepEqual(new Set(e1.map((e) => e.id)).size, e1.length);
      // the dedup keys survived too: a retry of the last reported send stores nothing
      const last = reported.at(-1)!;
      const retry = await stores.inbox.append({
        sender: e1[last.seq - 1]!.sender,
        clientMessageId: `dur-${last.seq}`,
        kind: 'message',
        serverTimestamp: 1,
        copies: [{ recipient: { userId: recipient, deviceId: 1 }, payload: new Uint8Array(1) }],
      });
      assert.equal(retry.duplicate, true);
      assert.equal(retry.copies[0]!.id, last.id1);
    } finally {
      await stores.close();
    }
  });
}

/**
 * Proof that the server is blind: real SDK clients exchange messages carrying
 * unique plaintext markers (and raw secret bytes: media keys) through a node;
 * then every byte the server side holds — each file in its data folder,
 * SQLite database, -wal and -shm included, while running and after shutdown —
 * and every log line it wrote is searched for the markers in several
 * encodings and for the raw bytes. None may be found.
 *
 * The search must be able to fail: the same search finds (1) the ciphertext
 * of a message still waiting in the inbox, (2) a control marker sent on the
 * pre-E2EE opaque path (which the server stores as given) and (3) a control
 * marker the test logs through the node's own logger.
 * (PostgreSQL, Cassandra, Redis and a NATS wiretap join with later issues.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Content } from '../../client/index.ts';
import { registerClient, startTestNode, take } from '../support/test-node.ts';
import { secureClients } from '../client/support/secure-clients.ts';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full) : [full];
  });
}

/** The byte patterns a plaintext string could leave behind. */
function encodings(s: string): Buffer[] {
  const utf8 = Buffer.from(s, 'utf8');
  return [utf8, Buffer.from(s, 'utf16le'), Buffer.from(utf8.toString('base64')), Buffer.from(utf8.toString('hex'))];
}

function rawEncodings(b: Uint8Array): Buffer[] {
  const raw = Buffer.from(b);
  return [raw, Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('hex'))];
}

interface Hit { readonly needle: string; readonly where: string }

/** Searches every file of `dir` and the log lines for every needle; returns what was found where. */
function search(dir: string, logs: readonly string[], needles: ReadonlyMap<string, Buffer[]>): Hit[] {
  const haystacks = filesUnder(dir).map((f) => ({ where: path.relative(dir, f), bytes: readFileSync(f) }));
  haystacks.push({ where: 'logs', bytes: Buffer.from(logs.join('\n'), 'utf8') });
  const hits: Hit[] = [];
  for (const [needle, patterns] of needles) {
    for (const h of haystacks) {
      if (patterns.some((p) => h.bytes.includes(p))) hits.push({ needle, where: h.where });
    }
  }
  return hits;
}

test('server-blind - no plaintext marker or raw secret byte in the node\'s SQLite files (incl. -wal) or logs', async () => {
  const t = await startTestNode();
  const sdk = secureClients(t.url);
  let stopped = false;
  try {
    assert.ok(!sdk.dir.startsWith(t.dataDir), 'client stores live apart from the server\'s data');
    const alice = await sdk.register('alice');
    let bob = await sdk.register('bob');
    const aliceId = alice.device.userId;
    const bobId = bob.device.userId;

    const secrets = new Map<string, Buffer[]>();
    const marker = (label: string) => {
      const m = `PLAINTEXT-${label}-${randomBytes(12).toString('hex')}`;
      secrets.set(m, encodings(m));
      return m;
    };
    const mediaKey = randomBytes(32);
    const mediaDigest = randomBytes(32);
    secrets.set('media key', rawEncodings(mediaKey));
    secrets.set('media digest', rawEncodings(mediaDigest));

    // 1. online exchange, both ways, every content kind; acked (the inbox rows are deleted, pages and WAL frames remain)
    const toBob: Content[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ type: 'text', text: `hello ${marker(`a2b-${i}`)}` }) as const),
      { type: 'media', media: { id: marker('media-id'), key: mediaKey, digest: mediaDigest, size: 4096, contentType: 'image/png', fileName: `${marker('file')}.png`, caption: marker('caption') } },
      { type: 'reaction', messageId: 'm-1', emoji: marker('reaction') },
      { type: 'typing', action: 'started' },
    ];
    for (const c of toBob) await alice.send(bobId, c);
    for (const m of await take(bob.messages(), toBob.length)) m.ack();
    for (let i = 0; i < 5; i++) await bob.sendText(aliceId, `reply ${marker(`b2a-${i}`)}`);
    for (const m of await take(alice.messages(), 5)) m.ack();

    // 2. stored for an offline device, read on its return: what the server stored really is the conversation
    await bob.close();
    for (let i = 0; i < 5; i++) await alice.sendText(bobId, `while away ${marker(`offline-${i}`)}`);
    bob = await sdk.open('bob');
    const late = await take(bob.messages(), 5);
    assert.ok(late.every((m) => m.content.type === 'text' && m.content.text.includes('PLAINTEXT-offline-')));
    for (const m of late) m.ack();
    await bob.close();

    // 3. still waiting in the inbox at the end: ciphertext whose bytes the test knows
    const known = await alice.encrypt(bobId, { type: 'text', text: `known ciphertext ${marker('known')}` });
    await alice.transport.send(bobId, known, { messageId: 'known-ciphertext' });

    // 4. controls: plaintext the server is *given* as such must be found by the same search
    const controlOpaque = `CONTROL-OPAQUE-${randomBytes(12).toString('hex')}`;
    const controlLog = `CONTROL-LOG-${randomBytes(12).toString('hex')}`;
    const legacy = await registerClient(t.url);
    await legacy.client.send(bobId, Buffer.from(`pre-E2EE opaque payload ${controlOpaque}`));
    t.node.chat.services.log.info({ event: 'test.control', note: controlLog });

    const controls = new Map<string, Buffer[]>([
      ['opaque control', [Buffer.from(controlOpaque)]],
      ['log control', [Buffer.from(controlLog)]],
      ['stored ciphertext', [Buffer.from(known[0]!.ciphertext)]],
    ]);
    const check = (phase: string) => {
      const hits = search(t.dataDir, t.logs, secrets);
      assert.deepEqual(hits, [], `${phase}: plaintext found on the server side`);
      const found = search(t.dataDir, t.logs, controls);
      assert.ok(found.some((h) => h.needle === 'opaque control' && h.where.startsWith('parley.db')), `${phase}: the search finds the opaque control in the database files`);
      assert.ok(found.some((h) => h.needle === 'log control' && h.where === 'logs'), `${phase}: the search finds the log control`);
      assert.ok(found.some((h) => h.needle === 'stored ciphertext' && h.where.startsWith('parley.db')), `${phase}: the search finds stored ciphertext`);
    };
    check('running node');

    await sdk.closeAll();
    await t.stop({ keepData: true }); // closing checkpoints the WAL into the main file; the inbox still holds the last two
    stopped = true;
    check('stopped node');
  } finally {
    await sdk.closeAll();
    if (!stopped) await t.stop();
    else rmSync(t.dataDir, { recursive: true, force: true });
  }
});

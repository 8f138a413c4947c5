/**
 * Faults of the cluster's NATS, with real node processes, PostgreSQL and
 * Cassandra, and real SDK clients on different nodes.
 *
 * - NATS restart: the test owns a nats-server, stops it while clients keep
 *   sending (same node and across nodes), and starts it again on the same
 *   port with the same JetStream store. Every send ends (resolves or rejects
 *   with a reported error: none is silently lost), and every resolved one
 *   reaches the recipient app exactly once, in per-sender order.
 * - Server-blind on NATS: a wiretap subscribed to every subject of the
 *   suite's NATS records every payload while end-to-end encrypted clients on
 *   two nodes talk; no plaintext marker may be in any of them, while the same
 *   search finds the cluster's heartbeats, a known ciphertext and a control
 *   the server was given in plaintext.
 *
 * Synchronisation is on events only: node log lines (`cluster.fenced`,
 * `cluster.unfenced`, `cluster.node_up`), deliveries and receipts. Every wait
 * is bounded; no assertion is about time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import { ReceiptStatus } from '../../protocol/index.ts';
import { newMessageId, type ParleyClient } from '../../client/index.ts';
import { serviceSettings } from '../../scripts/services.ts';
import { startChatCluster, type ChatClusterHandle, type ClusterMember } from '../support/chat-cluster.ts';
import { startNatsServer } from '../support/nats-server.ts';
import { registerClient, take } from '../support/test-node.ts';
import { secureClients, type SecureClients } from '../client/support/secure-clients.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** Rejects with `what` (and `detail()`) unless `p` settles within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string, detail?: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}${detail === undefined ? '' : `\n${detail()}`}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a member's log is now: `logged` looks only at what comes after. */
const logMark = (m: ClusterMember): number => m.process.output().length;

/** Resolves once `m` logs `needle` after `since` (a `logMark`). */
function logged(m: ClusterMember, since: number, needle: string): Promise<void> {
  return m.process.waitForOutput((out) => out.slice(since).includes(needle));
}

/** The cluster log lines of a member (for failure reports). */
function clusterLines(m: ClusterMember): string {
  return m.process.output().split('\n').filter((l) => l.includes('"event":"cluster.') || l.includes('"event":"session.')).slice(-40).join('\n');
}

// ---------------------------------------------------------------------------
// NATS restart

type Phase = 'before' | 'gap' | 'after';

/** One send as the test issued it, and how it ended. */
interface Issued {
  readonly id: string;
  readonly index: number;
  readonly issuedIn: Phase;
  outcome: 'pending' | 'sent' | 'rejected';
  settledIn?: Phase;
  error?: string;
}

interface Party {
  readonly name: string;
  readonly client: ParleyClient;
  readonly userId: string;
}

/** A recipient app: takes every message the SDK yields, in order, and acks it. */
class RecipientApp {
  readonly got: Array<{ readonly from: string; readonly messageId: string; readonly phase: Phase }> = [];
  private readonly listeners = new Set<() => void>();

  constructor(client: ParleyClient, phase: () => Phase) {
    void (async () => {
      for await (const m of client.messages()) {
        this.got.push({ from: m.from, messageId: m.messageId, phase: phase() });
        m.ack();
        for (const fn of this.listeners) fn();
      }
    })();
  }

  /** Message ids from `userId`, in the order the app got them. */
  from(userId: string): string[] {
    return this.got.filter((m) => m.from === userId).map((m) => m.messageId);
  }

  /** When (which phase) the app got `messageId`. */
  phaseOf(messageId: string): Phase | undefined {
    return this.got.find((m) => m.messageId === messageId)?.phase;
  }

  /** Resolves once `check` holds (checked now and on each message). */
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const fn = () => {
        if (!check()) return;
        this.listeners.delete(fn);
        resolve();
      };
      this.listeners.add(fn);
      fn();
    });
  }
}

/** One sender → recipient stream of sends. */
class Flow {
  readonly sends: Issued[] = [];
  private readonly outcomes: Promise<void>[] = [];

  constructor(readonly label: string, readonly from: Party, readonly to: Party, readonly app: RecipientApp, private readonly phase: () => Phase) {}

  issue(): Issued {
    const sent: Issued = { id: newMessageId(), index: this.sends.length, issuedIn: this.phase(), outcome: 'pending' };
    this.sends.push(sent);
    this.outcomes.push(this.from.client.send(this.to.userId, text(`${this.label} #${sent.index}`), { messageId: sent.id }).then(
      () => {
        sent.outcome = 'sent';
        sent.settledIn = this.phase();
      },
      (err: unknown) => {
        sent.outcome = 'rejected';
        sent.settledIn = this.phase();
        sent.error = (err as { code?: string }).code ?? String(err);
      },
    ));
    return sent;
  }

  /** Resolves once every send issued so far has ended. */
  settled(): Promise<void> {
    return Promise.all(this.outcomes).then(() => undefined);
  }

  delivered(): string[] {
    return this.app.from(this.from.userId);
  }

  /** Resolves once the app got every one of `ids`. */
  deliveredAll(ids: readonly string[]): Promise<void> {
    return this.app.until(() => {
      const got = new Set(this.delivered());
      return ids.every((id) => got.has(id));
    });
  }

  summary(): string {
    const count = (f: (s: Issued) => boolean) => this.sends.filter(f).length;
    const byPhase = (['before', 'gap', 'after'] as const).map((p) => `${p}: ${count((s) => s.issuedIn === p)}`).join(', ');
    const delivered = new Set(this.delivered());
    return `${this.label}: issued ${this.sends.length} (${byPhase}); sent ${count((s) => s.outcome === 'sent')}, rejected ${count((s) => s.outcome === 'rejected')}, pending ${count((s) => s.outcome === 'pending')}; delivered ${this.delivered().length} (of the sent: ${count((s) => s.outcome === 'sent' && delivered.has(s.id))})`;
  }
}

/**
 * How `delivered` departs from send order: the inversions, and the delivered
 * sequence as runs `#from-to:I>A` (send indexes, I = phase issued in, A =
 * phase the app got it in; b = before the stop, g = NATS down, a = after the restart).
 */
function orderReport(f: Flow, delivered: readonly string[]): string {
  const byId = new Map(f.sends.map((s) => [s.id, s] as const));
  const items = delivered.map((id) => ({ index: byId.get(id)!.index, tag: `${byId.get(id)!.issuedIn[0]}>${f.app.phaseOf(id)?.[0] ?? '?'}` }));
  const inversions = items.flatMap((x, i) => (i > 0 && x.index < items[i - 1]!.index ? [`#${items[i - 1]!.index} then #${x.index}`] : []));
  const runs: string[] = [];
  let from = 0;
  for (let i = 1; i <= items.length; i++) {
    const a = items[i - 1]!;
    const b = items[i];
    if (b !== undefined && b.index === a.index + 1 && b.tag === a.tag) continue;
    const first = items[from]!;
    runs.push(first === a ? `#${a.index}:${a.tag}` : `#${first.index}-${a.index}:${a.tag}`);
    from = i;
  }
  return `${f.label}: ${inversions.length} inversion(s): ${inversions.join(', ')}\n  delivered: ${runs.join(' ')}`;
}

test('cluster faults - NATS restart mid-traffic: every sent message arrives once in per-sender order, no send silently lost', { timeout: 180_000 }, async (t) => {
  const nats = await startNatsServer();
  let cluster: ChatClusterHandle | undefined;
  let traffic: NodeJS.Timeout | undefined;
  try {
    cluster = await startChatCluster(2, { natsUrl: nats.url, env: { PARLEY_COMMIT_HORIZON_MS: '2000' } });
    const [n1, n2] = cluster.members as [ClusterMember, ClusterMember];
    const party = async (name: string, url: string): Promise<Party> => {
      const r = await registerClient(url);
      return { name, client: r.client, userId: r.credentials.userId };
    };
    const alice = await party('alice@n1', n1.url);
    const bob = await party('bob@n2', n2.url);
    const carol = await party('carol@n2', n2.url);
    const parties = [alice, bob, carol];
    const retrying = new Map<string, number>();
    for (const p of parties) p.client.on('retrying', () => retrying.set(p.name, (retrying.get(p.name) ?? 0) + 1));
    let phase: Phase = 'before';
    const now = () => phase;
    const bobApp = new RecipientApp(bob.client, now);
    const aliceApp = new RecipientApp(alice.client, now);
    const flows = [
      new Flow('alice@n1 → bob@n2 (across nodes)', alice, bob, bobApp, now),
      new Flow('bob@n2 → alice@n1 (across nodes)', bob, alice, aliceApp, now),
      new Flow('carol@n2 → bob@n2 (same node)', carol, bob, bobApp, now),
    ];
    const [, , sameNode] = flows as [Flow, Flow, Flow];
    const report = () => [...flows.map((f) => f.summary()), `n1:\n${clusterLines(n1)}`, `n2:\n${clusterLines(n2)}`].join('\n');
    const issueBatch = (n: number) => flows.map((f) => Array.from({ length: n }, () => f.issue()));

    // Traffic is a steady stream from every sender, plus batches at each phase; it never waits for replies.
    traffic = setInterval(() => {
      for (const f of flows) f.issue();
    }, 25);

    // 1. Before: delivery works on every flow.
    const first = issueBatch(10);
    await within(Promise.all(flows.map((f, i) => f.deliveredAll(first[i]!.map((s) => s.id)))), 30_000, 'the first batch delivered on every flow', report);

    // 2. NATS goes away mid-traffic; both nodes notice (fenced) while sends keep being issued.
    const beforeStop = [logMark(n1), logMark(n2)] as const;
    phase = 'gap';
    await nats.stop();
    await within(Promise.all([logged(n1, beforeStop[0], '"event":"cluster.fenced"'), logged(n2, beforeStop[1], '"event":"cluster.fenced"')]), 30_000, 'both nodes fenced', report);
    const gapBatch = issueBatch(20);
    // Sends between clients of one node need no NATS: they go through while it is down.
    const sameNodeGap = gapBatch[2]!;
    await within(sameNode.settled(), 30_000, 'the same-node sends of the gap to end while NATS is down', report);
    assert.ok(sameNodeGap.every((s) => s.outcome === 'sent' && s.settledIn === 'gap'), `same-node sends resolved during the gap\n${report()}`);
    await within(sameNode.deliveredAll(sameNodeGap.map((s) => s.id)), 30_000, 'the same-node gap batch delivered while NATS is down', report);
    assert.equal(phase, 'gap');
    assert.equal(nats.running, false, 'NATS was down all along');

    // 3. NATS comes back on the same port with the same store; the nodes rejoin.
    const beforeStart = [logMark(n1), logMark(n2)] as const;
    await nats.start();
    phase = 'after';
    await within(Promise.all([
      logged(n1, beforeStart[0], '"event":"cluster.unfenced"'), logged(n2, beforeStart[1], '"event":"cluster.unfenced"'),
      logged(n1, beforeStart[0], '"event":"cluster.node_up","peer":"n2"'), logged(n2, beforeStart[1], '"event":"cluster.node_up","peer":"n1"'),
    ]), 60_000, 'both nodes unfenced and up again', report);
    issueBatch(10);
    clearInterval(traffic);
    traffic = undefined;

    // 4. Every send ends: resolved or rejected with a reported error.
    await within(Promise.all(flows.map((f) => f.settled())), 60_000, 'every send to end (resolve or reject)', () => {
      const pending = flows.flatMap((f) => f.sends.filter((s) => s.outcome === 'pending').map((s) => `${f.label} #${s.index} (${s.issuedIn})`));
      return `${report()}\npending: ${pending.join(', ')}`;
    });
    // 5. Every resolved send reaches the recipient app; then one more message per flow, behind everything.
    await within(Promise.all(flows.map((f) => f.deliveredAll(f.sends.filter((s) => s.outcome === 'sent').map((s) => s.id)))), 60_000, 'every resolved send delivered', () => {
      const missing = flows.flatMap((f) => {
        const got = new Set(f.delivered());
        return f.sends.filter((s) => s.outcome === 'sent' && !got.has(s.id)).map((s) => `${f.label} #${s.index} (issued ${s.issuedIn}, sent ${s.settledIn})`);
      });
      return `${report()}\nmissing: ${missing.join(', ')}`;
    });
    const barrier = flows.map((f) => f.issue());
    await within(Promise.all(flows.map((f, i) => f.deliveredAll([barrier[i]!.id]))), 30_000, 'the barrier message of every flow', report);
    // Its delivery may overtake its `sent` on the way back to the sender: wait for that too.
    await within(Promise.all(flows.map((f) => f.settled())), 30_000, 'the barrier sends to end', report);

    for (const f of flows) t.diagnostic(f.summary());
    t.diagnostic(`'retrying' events: ${parties.map((p) => `${p.name} ${retrying.get(p.name) ?? 0}`).join(', ')}`);
    const outOfOrder: string[] = [];
    for (const f of flows) {
      const rejected = f.sends.filter((s) => s.outcome === 'rejected');
      if (rejected.length > 0) t.diagnostic(`${f.label}: rejected ${rejected.map((s) => `#${s.index} ${s.error} (issued ${s.issuedIn})`).join(', ')}`);
      assert.ok(f.sends.some((s) => s.issuedIn === 'gap'), `${f.label}: sends were issued while NATS was down`);
      // None silently lost: every issued send ended, and a rejection says why.
      assert.equal(f.sends.filter((s) => s.outcome === 'sent').length + rejected.length, f.sends.length, `${f.label}: resolved + rejected = issued`);
      for (const s of rejected) assert.ok(s.error !== undefined && s.error.length > 0, `${f.label} #${s.index}: a rejection carries its error`);
      const delivered = f.delivered();
      const issuedIds = new Set(f.sends.map((s) => s.id));
      assert.deepEqual(delivered.filter((id) => !issuedIds.has(id)), [], `${f.label}: the app got only messages that were sent`);
      assert.deepEqual(delivered.filter((id, i) => delivered.indexOf(id) !== i), [], `${f.label}: each message reaches the app once`);
      // Every resolved send was delivered (waited for above); now: in the order they were issued.
      const resolved = f.sends.filter((s) => s.outcome === 'sent').map((s) => s.id);
      const resolvedSet = new Set(resolved);
      const deliveredResolved = delivered.filter((id) => resolvedSet.has(id));
      if (JSON.stringify(deliveredResolved) !== JSON.stringify(resolved)) outOfOrder.push(orderReport(f, deliveredResolved));
    }
    assert.deepEqual(outOfOrder, [], `per-sender order broken:\n${outOfOrder.join('\n')}\n${report()}`);
  } finally {
    if (traffic !== undefined) clearInterval(traffic);
    await cluster?.stop();
    await nats.close();
  }
});

// ---------------------------------------------------------------------------
// Server-blind on NATS

/** Every message the wiretap heard. */
interface Tapped {
  readonly subject: string;
  readonly data: Buffer;
}

/** A plain NATS client on `>`: records every payload on the server (the suite's, shared with other tests). */
class Wiretap {
  readonly heard: Tapped[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly sub: Subscription;

  private constructor(readonly nc: NatsConnection) {
    this.sub = nc.subscribe('>', {
      callback: (err: Error | null, msg: Msg) => {
        if (err !== null) return;
        this.heard.push({ subject: msg.subject, data: Buffer.from(msg.data) });
        for (const fn of this.listeners) fn();
      },
    });
  }

  static async open(url: string): Promise<Wiretap> {
    const nc = await connect({ servers: url, name: 'parley-test-wiretap' });
    const tap = new Wiretap(nc);
    await nc.flush(); // the subscription is in place on the server
    return tap;
  }

  /** Whether some payload on a subject passing `subject` contains `bytes`. */
  has(bytes: Uint8Array, subject: (s: string) => boolean = () => true): boolean {
    const b = Buffer.from(bytes);
    return this.heard.some((h) => subject(h.subject) && h.data.includes(b));
  }

  /** Resolves once the tap heard `bytes` on a subject passing `subject`. */
  hears(bytes: Uint8Array, subject?: (s: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const fn = () => {
        if (!this.has(bytes, subject)) return;
        this.listeners.delete(fn);
        resolve();
      };
      this.listeners.add(fn);
      fn();
    });
  }

  async close(): Promise<void> {
    this.sub.unsubscribe();
    await this.nc.close();
  }
}

/** The byte patterns a plaintext string could leave behind. */
function encodings(s: string): Buffer[] {
  const utf8 = Buffer.from(s, 'utf8');
  return [utf8, Buffer.from(s, 'utf16le'), Buffer.from(utf8.toString('base64')), Buffer.from(utf8.toString('hex'))];
}

test('cluster faults - server-blind on NATS: a wiretap on every subject finds no plaintext marker, but the cluster\'s traffic and ciphertext', { timeout: 120_000 }, async () => {
  const natsUrl = serviceSettings().natsUrl;
  const tap = await Wiretap.open(natsUrl);
  let cluster: ChatClusterHandle | undefined;
  const sdks: SecureClients[] = [];
  let stopped = false;
  try {
    cluster = await startChatCluster(2, { natsUrl });
    const clusterName = cluster.clusterName;
    const ofCluster = (s: string) => s.startsWith(`${clusterName}.`);
    const [n1, n2] = cluster.members as [ClusterMember, ClusterMember];
    const sdk1 = secureClients(n1.url);
    const sdk2 = secureClients(n2.url);
    sdks.push(sdk1, sdk2);
    const alice = await sdk1.register('alice');
    const bob = await sdk2.register('bob');
    const aliceId = alice.device.userId;
    const bobId = bob.device.userId;

    const markers: string[] = [];
    const marker = (label: string) => {
      const m = `PLAINTEXT-${label}-${randomBytes(12).toString('hex')}`;
      markers.push(m);
      return m;
    };

    // alice@n1 → bob@n2, every message across the nodes (a PQXDH session start, then ratchet messages)
    const toBob: string[] = [];
    for (let i = 0; i < 5; i++) toBob.push((await alice.sendText(bobId, `hello ${marker(`a2b-${i}`)}`)).messageId);
    await alice.send(bobId, { type: 'reaction', messageId: toBob[0]!, emoji: marker('reaction') });
    const atBob = await within(take(bob.messages(), 6), 30_000, 'bob to get alice\'s messages');
    assert.deepEqual(atBob.slice(0, 5).map((m) => m.messageId), toBob);
    assert.ok(atBob.slice(0, 5).every((m, i) => m.content.type === 'text' && m.content.text.includes(`PLAINTEXT-a2b-${i}-`)), 'bob decrypted alice\'s texts');
    for (const m of atBob) m.ack();

    // bob@n2 → alice@n1
    for (let i = 0; i < 5; i++) await bob.sendText(aliceId, `reply ${marker(`b2a-${i}`)}`);
    const atAlice = await within(take(alice.messages(), 5), 30_000, 'alice to get bob\'s replies');
    assert.ok(atAlice.every((m, i) => m.content.type === 'text' && m.content.text.includes(`PLAINTEXT-b2a-${i}-`)), 'alice decrypted bob\'s replies');
    for (const m of atAlice) m.ack();

    // a read receipt bob@n2 → alice@n1 (message ids only)
    await bob.markRead(aliceId, [toBob[4]!]);
    const read = await within((async () => {
      for await (const r of alice.receipts()) if (r.status === ReceiptStatus.Read) return r;
      throw new Error('alice\'s receipts ended');
    })(), 30_000, 'alice to get bob\'s read receipt');
    assert.deepEqual(read.messageIds, [toBob[4]]);

    // a message whose ciphertext the test knows, across the nodes
    const known = await alice.encrypt(bobId, { type: 'text', text: `known ciphertext ${marker('known')}` });
    await alice.transport.send(bobId, known, { messageId: 'known-ciphertext' });
    const [knownAtBob] = await within(take(bob.messages(), 1), 30_000, 'bob to get the known ciphertext');
    assert.ok(knownAtBob!.content.type === 'text' && knownAtBob!.content.text.includes('PLAINTEXT-known-'));
    knownAtBob!.ack();

    // control: plaintext the server is given as such (the pre-E2EE opaque path), across the nodes
    const control = `CONTROL-OPAQUE-${randomBytes(12).toString('hex')}`;
    const legacy = await registerClient(n1.url);
    await legacy.client.send(bobId, text(`opaque ${control}`));

    // The tap must have heard the cluster carry these (bounded waits on what it records).
    await within(Promise.all([
      tap.hears(known[0]!.ciphertext, ofCluster),
      tap.hears(text(control), ofCluster),
      tap.hears(text(toBob[4]!), ofCluster), // the read receipt's message id, on its way to alice's session
    ]), 30_000, 'the wiretap to hear the cluster carry the known ciphertext, the control and the receipt');

    // Stop the clients and the nodes, then search everything the tap heard.
    await sdk1.closeAll();
    await sdk2.closeAll();
    await cluster.stop();
    stopped = true;
    await tap.nc.flush();

    assert.ok(tap.heard.some((h) => h.subject.startsWith(clusterName)), 'the tap heard the cluster\'s subjects');
    assert.ok(tap.heard.some((h) => h.subject === `${clusterName}.heartbeat`), 'the tap heard the cluster\'s heartbeats');
    assert.ok(tap.has(text(bobId), ofCluster), 'the search finds a known non-secret id (the recipient\'s user id)');
    assert.ok(tap.has(known[0]!.ciphertext, ofCluster), 'the search finds a message\'s ciphertext');
    assert.ok(tap.has(text(control)), 'the search finds plaintext the server was given as such');
    const hits: string[] = [];
    for (const m of markers) {
      for (const enc of encodings(m)) {
        const where = tap.heard.find((h) => h.data.includes(enc));
        if (where !== undefined) hits.push(`${m} on ${where.subject}`);
      }
    }
    assert.deepEqual(hits, [], `plaintext markers on NATS (of ${tap.heard.length} payloads)`);
    assert.equal(markers.length, 12);
  } finally {
    for (const s of sdks) await s.closeAll();
    if (!stopped) await cluster?.stop(); // also removes the cluster's registry bucket
    await tap.close();
  }
});

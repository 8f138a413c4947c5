/**
 * Names, groups and placement across nodes (in-process bus + memory store):
 * one owner per name, explicit takeover, names and members gone with their
 * node, a name that moves when its node dies, rendezvous placement with leases
 * and handover.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awaitExit, call, okRef, start, type ExitReason, type Ref } from '../../supervisors/index.ts';
import { rendezvousOwner, type PlacementEvent } from '../../cluster/index.ts';
import { ECHO, eventually, startTestCluster, until } from './support.ts';

const sameRef = (x: Ref | undefined, y: Ref | undefined): boolean => x !== undefined && y !== undefined && x.node === y.node && x.id === y.id;

test('cluster registry - a name registered on one node is found on every node; a second register elsewhere fails', async () => {
  const c = await startTestCluster(3);
  const [a, b, d] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined, { name: 'device:alice:1' }));
    await until(() => sameRef(b.registry.whereis('device:alice:1'), pa) && sameRef(d.registry.whereis('device:alice:1'), pa), 'name replicated');
    const r = await start(b.system, ECHO, undefined, { name: 'device:alice:1' });
    assert.deepEqual(r, { error: { exit: 'already_started' } });
    const pb = okRef(await start(b.system, ECHO, undefined));
    assert.deepEqual(await b.registry.claim('device:alice:1', pb), { ok: false, holder: pa });
    // Reachable by name from another node.
    assert.equal(await call(b.registry.whereis('device:alice:1')!, { echo: 'hi' }), 'hi');
  } finally {
    await c.stop();
  }
});

test('cluster registry - concurrent registers of one name on two nodes leave exactly one owner; the loser exits cleanly', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined));
    const pb = okRef(await start(b.system, ECHO, undefined));
    const exits = new Map<string, Promise<ExitReason>>([['a', awaitExit(pa)], ['b', awaitExit(pb)]]);
    // Both replicas see the name free, so both say yes synchronously; the store decides.
    assert.equal(a.registry.register('race', pa), true);
    assert.equal(b.registry.register('race', pb), true);
    await until(() => a.system.processCount + b.system.processCount === 1, 'one loser exits');
    const winner = a.system.processCount === 1 ? pa : pb;
    const loser = winner === pa ? 'b' : 'a';
    assert.deepEqual(await exits.get(loser), { shutdown: { nameLost: 'race', to: winner } });
    await until(() => sameRef(a.registry.whereis('race'), winner) && sameRef(b.registry.whereis('race'), winner), 'both agree');
  } finally {
    await c.stop();
  }
});

test('cluster registry - claim with takeover moves the name; the previous holder gets {shutdown: {nameLost}}', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined, { name: 'session:bob:1' }));
    await until(() => sameRef(b.registry.whereis('session:bob:1'), pa), 'replicated');
    const oldExit = awaitExit(pa);
    const pb = okRef(await start(b.system, ECHO, undefined));
    assert.deepEqual(await b.registry.claim('session:bob:1', pb, { takeover: true }), { ok: true, previous: pa });
    assert.deepEqual(await oldExit, { shutdown: { nameLost: 'session:bob:1', to: pb } });
    await until(() => sameRef(a.registry.whereis('session:bob:1'), pb), 'moved on a');
    assert.ok(sameRef(b.registry.whereis('session:bob:1'), pb));
  } finally {
    await c.stop();
  }
});

test('cluster registry - names and group members of a crashed node vanish; the name moves to a process on a live node', async () => {
  const c = await startTestCluster(3);
  const [a, b, d] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pb = okRef(await start(b.system, ECHO, undefined, { name: 'svc' }));
    const gb = okRef(await start(b.system, ECHO, undefined));
    const ga = okRef(await start(a.system, ECHO, undefined));
    b.registry.join('room', gb);
    a.registry.join('room', ga);
    await until(() => sameRef(a.registry.whereis('svc'), pb) && d.registry.members('room').length === 2, 'replicated');
    assert.deepEqual(d.registry.whichGroups(), ['room']);
    c.crash(b);
    await Promise.all([a.membership.waitDown(b.name), d.membership.waitDown(b.name)]);
    assert.equal(a.registry.whereis('svc'), undefined);
    assert.deepEqual(d.registry.members('room'), [ga]);
    // The name is free in the store too (swept by the lowest live node), so it can move.
    const pd = okRef(await start(d.system, ECHO, undefined));
    const claimed = await eventually(() => d.registry.claim('svc', pd), (r) => r.ok, 'claim after sweep');
    assert.equal(claimed.ok, true);
    await until(() => sameRef(a.registry.whereis('svc'), pd), 'moved');
  } finally {
    await c.stop();
  }
});

test('cluster registry - a process that exits loses its name and groups everywhere', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined, { name: 'short-lived' }));
    a.registry.join('g', pa);
    await until(() => b.registry.whereis('short-lived') !== undefined && b.registry.members('g').length === 1, 'replicated');
    const { stop } = await import('../../supervisors/index.ts');
    await stop(pa);
    await until(() => b.registry.whereis('short-lived') === undefined && b.registry.members('g').length === 0, 'gone on b');
    assert.deepEqual(a.registry.registered(), []);
  } finally {
    await c.stop();
  }
});

test('rendezvous - the owner depends only on the live set; removing a node moves only its keys', () => {
  const nodes = ['n0', 'n1', 'n2', 'n3'];
  const keys = Array.from({ length: 2000 }, (_, i) => `group:${i}`);
  const before = keys.map((k) => rendezvousOwner(k, nodes));
  const counts = new Map<string, number>();
  for (const o of before) counts.set(o!, (counts.get(o!) ?? 0) + 1);
  for (const n of nodes) assert.ok(counts.get(n)! > 300, `node ${n} owns a fair share (${counts.get(n)})`);
  const after = keys.map((k) => rendezvousOwner(k, ['n3', 'n0', 'n2']));
  keys.forEach((_, i) => {
    if (before[i] !== 'n1') assert.equal(after[i], before[i]);
    else assert.notEqual(after[i], 'n1');
  });
});

test('placement - ensure starts one actor per key on its rendezvous owner, from any node', async () => {
  const c = await startTestCluster(3);
  try {
    const starts: string[] = [];
    const ps = c.nodes.map((n) =>
      n.placement('groups', {
        start: async (key) => {
          starts.push(`${n.name}:${key}`);
          return okRef(await start(n.system, ECHO, undefined));
        },
      }),
    );
    const keys = Array.from({ length: 12 }, (_, i) => `g${i}`);
    // Every node asks for every key at once: still one start per key.
    const refs = await Promise.all(keys.flatMap((k) => ps.map((p) => p.ensure(k))));
    keys.forEach((k, i) => {
      const row = refs.slice(i * 3, i * 3 + 3);
      assert.ok(row.every((r) => sameRef(r, row[0])), `one actor for ${k}`);
      assert.equal(row[0]!.node, ps[0]!.ownerOf(k));
    });
    assert.equal(starts.length, keys.length);
  } finally {
    await c.stop();
  }
});

test('placement - a crashed owner’s keys move to the survivors, after it fenced itself, never running twice', async () => {
  const c = await startTestCluster(3);
  const [a, b, d] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const running = new Map<string, Ref>();
    const ps = c.nodes.map((n) =>
      n.placement('groups', {
        start: async (key) => {
          const ref = okRef(await start(n.system, ECHO, undefined));
          const prev = running.get(key);
          // A second live actor for a key while the first's node still runs it would be a double owner.
          if (prev !== undefined && c.endpoints.get(prev.node)!.connected && c.nodes.find((x) => x.name === prev.node)!.system.processCount > 0) {
            const { isAlive } = await import('../../supervisors/index.ts');
            assert.equal(isAlive(prev), false, `key ${key} owned twice`);
          }
          running.set(key, ref);
          return ref;
        },
      }),
    );
    const [pa, pb, pd] = ps as [typeof ps[0], typeof ps[0], typeof ps[0]];
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k) => pa.ensure(k)));
    const onB = keys.filter((k) => pa.ownerOf(k) === b.name);
    assert.ok(onB.length > 0);
    const fenced: PlacementEvent[] = [];
    pb.onEvent((e) => fenced.push(e));
    c.crash(b);
    // b fences itself (kills its placed actors) before the others declare it down.
    await until(() => pb.localKeys().length === 0, 'b fenced its actors');
    assert.equal(fenced.length, onB.length);
    await Promise.all([a.membership.waitDown(b.name), d.membership.waitDown(b.name)]);
    const moved = await Promise.all(onB.map((k) => pd.ensure(k, { timeoutMs: 8_000 })));
    for (const [i, ref] of moved.entries()) {
      assert.notEqual(ref.node, b.name);
      assert.equal(ref.node, pa.ownerOf(onB[i]!));
    }
    assert.equal(pa.localKeys().length + pd.localKeys().length, keys.length);
    void pb;
  } finally {
    await c.stop();
  }
});

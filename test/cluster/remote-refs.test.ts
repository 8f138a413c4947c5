/**
 * Remote refs over the in-process bus: send/cast/call between processes of
 * different nodes, per-pair order, call timeouts and noproc as errors, monitors
 * and links across nodes, and what a node crash does to them (noconnection).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awaitExit, call, exit, okRef, start, startLink, type DownMessage, type ExitMessage, type MonitorRef, type Ref } from '../../supervisors/index.ts';
import { Kind, decode, type Envelope } from '../../cluster/envelope.ts';
import { ECHO, eventually, startTestCluster, until } from './support.ts';

test('remote refs - call, cast and send from a process on one node reach a process on another', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined));
    const pb = okRef(await start(b.system, ECHO, undefined));
    assert.deepEqual(await call(pa, { callTo: pb, req: { echo: { x: [1, 'two', new Uint8Array([3])] } } }), { ok: { x: [1, 'two', new Uint8Array([3])] } });
    assert.deepEqual(await call(pa, { sendAll: pb, count: 3 }), 'sent');
    // A call queues behind earlier messages of the same pair: once it answers, the sends have arrived.
    await call(pa, { callTo: pb, req: { echo: 'sync' } });
    assert.deepEqual(await call(pb, 'seen'), [0, 1, 2]);
  } finally {
    await c.stop();
  }
});

test('remote refs - messages from one node to another arrive in send order', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined));
    const pa2 = okRef(await start(a.system, ECHO, undefined));
    const pb = okRef(await start(b.system, ECHO, undefined));
    await call(pa, { sendAll: pb, count: 500 });
    await call(pa2, { sendAll: pb, count: 500 });
    await call(pa, { callTo: pb, req: { echo: 'sync' } });
    const seen = (await call(pb, 'seen')) as number[];
    assert.equal(seen.length, 1000);
    // Two senders on one node share the node pair's order: 0..499 then 0..499.
    assert.deepEqual(seen, [...Array.from({ length: 500 }, (_, i) => i), ...Array.from({ length: 500 }, (_, i) => i)]);
  } finally {
    await c.stop();
  }
});

test('remote refs - a remote call to a dead process fails noproc; a slow one times out as an error', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined));
    const ghost: Ref = { node: b.name, id: 1 };
    assert.deepEqual(await call(pa, { callTo: ghost, req: { echo: 1 } }), { code: 'PARLEY_ERR_CALL_NOPROC', reason: 'noproc' });
    const pb = okRef(await start(b.system, ECHO, undefined));
    assert.deepEqual(await call(pa, { callTo: pb, req: { sleepForever: true }, timeoutMs: 100 }), { code: 'PARLEY_ERR_CALL_TIMEOUT', reason: 'timeout' });
    // Code outside processes calls through the first clustered system's router too.
    const unknown: Ref = { node: 'no-such-node', id: 3 };
    await assert.rejects(call(unknown, { echo: 1 }), (e: { code: string; callReason: unknown }) => e.code === 'PARLEY_ERR_CALL_EXIT' && e.callReason === 'noconnection');
  } finally {
    await c.stop();
  }
});

test('remote refs - a monitor on a remote process delivers DOWN with its exit reason, or noproc', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const watcher = okRef(await start(a.system, ECHO, undefined));
    const target = okRef(await start(b.system, ECHO, undefined));
    const mon = (await call(watcher, { monitor: target })) as MonitorRef;
    const ghostMon = (await call(watcher, { monitor: { node: b.name, id: 2 } })) as MonitorRef;
    await call(watcher, { callTo: target, req: { echo: 'monitor registered' } });
    await call(watcher, { exitTo: target, reason: { exit: 'bye' } });
    await until(() => b.system.processCount === 0, 'target exit');
    const seen = await eventually(() => call(watcher, 'seen') as Promise<DownMessage[]>, (s) => s.length === 2, 'two DOWNs');
    const byMon = new Map(seen.map((d) => [d.monitor.id, d]));
    assert.deepEqual(byMon.get(ghostMon.id)!.reason, 'noproc');
    assert.deepEqual(byMon.get(mon.id)!.reason, { exit: 'bye' });
    assert.deepEqual(byMon.get(mon.id)!.ref, target);
  } finally {
    await c.stop();
  }
});

test('remote refs - when a node crashes, monitors fire DOWN noconnection, links EXIT noconnection, calls fail', async () => {
  const c = await startTestCluster(3);
  const [a, b, d] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const watcher = okRef(await start(a.system, ECHO, { trap: true }));
    const onB = okRef(await start(b.system, ECHO, undefined));
    const onD = okRef(await start(d.system, ECHO, undefined));
    const mon = (await call(watcher, { monitor: onB })) as MonitorRef;
    await call(watcher, { link: onB });
    await call(watcher, { link: onD });
    await call(watcher, { callTo: onB, req: { echo: 'links set' } });
    const hanging = call(watcher, { callTo: onB, req: { sleepForever: true }, timeoutMs: 60_000 });
    c.crash(b);
    await a.membership.waitDown(b.name);
    assert.deepEqual(await hanging, { code: 'PARLEY_ERR_CALL_EXIT', reason: 'noconnection' });
    const seen = (await call(watcher, 'seen')) as (DownMessage | ExitMessage)[];
    assert.deepEqual(
      seen.map((m) => [m.type, m.reason, m.type === 'DOWN' ? m.monitor.id : m.from.node]),
      [
        ['DOWN', 'noconnection', mon.id],
        ['EXIT', 'noconnection', b.name],
      ],
    );
    // The link to the live node still works: its process's exit arrives with its reason.
    await call(watcher, { exitTo: onD, reason: { exit: 'later' } });
    await until(() => d.system.processCount === 0, 'onD exit');
    await call(watcher, { callTo: onD, req: { echo: 1 } }); // round trip: the EXIT is ahead of the reply
    const after = (await call(watcher, 'seen')) as ExitMessage[];
    assert.deepEqual(after.slice(2).map((m) => [m.type, m.reason, m.from]), [['EXIT', { exit: 'later' }, onD]]);
  } finally {
    await c.stop();
  }
});

test('remote refs - a remote linked process exit kills an untrapped local one, and the other way round', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await startLink(a.system, ECHO, undefined));
    const pb = okRef(await start(b.system, ECHO, undefined));
    const trapB = okRef(await start(b.system, ECHO, { trap: true }));
    await call(pa, { link: pb });
    await call(pa, { link: trapB });
    await call(pa, { callTo: pb, req: { echo: 'sync' } });
    const paExit = awaitExit(pa);
    exit(pb, { exit: 'crashed' });
    assert.deepEqual(await paExit, { exit: 'crashed' });
    // pa died of pb's exit; its own exit then reached trapB as an EXIT message.
    const seen = await eventually(() => call(trapB, 'seen') as Promise<ExitMessage[]>, (s) => s.length === 1, 'EXIT at trapB');
    assert.deepEqual([seen[0]!.type, seen[0]!.from, seen[0]!.reason], ['EXIT', pa, { exit: 'crashed' }]);
  } finally {
    await c.stop();
  }
});

test('remote refs - castSoon: the casts of one turn to one node travel as one message at its end, and nothing sent later overtakes them', async () => {
  const c = await startTestCluster(2);
  const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
  try {
    const pa = okRef(await start(a.system, ECHO, undefined));
    const pb = okRef(await start(b.system, ECHO, undefined));
    // What node a publishes to node b.
    const ep = c.endpoints.get(a.name)!;
    const published: Envelope[] = [];
    const publish = ep.publish.bind(ep);
    ep.publish = (subject, data) => {
      if (subject.endsWith(`.node.${b.name}`)) published.push(decode(data));
      publish(subject, data);
    };
    const soon = (m: string) => ({ soon: true, m });
    // Five casts in one turn: nothing goes until the turn ends, then one message carries all five.
    assert.equal(await call(pa, { castAll: pb, msgs: [0, 1, 2, 3, 4].map((i) => soon(`soon${i}`)) }), 'sent');
    assert.equal(published.length, 0, 'nothing went within the turn');
    await until(() => published.length >= 1, 'the batch');
    assert.equal(published.length, 1, 'one message for the five');
    assert.equal(published[0]!.k, Kind.Batch);
    assert.equal((published[0] as { es: unknown[] }).es.length, 5);
    // A later cast flushes what waits before it: order is kept.
    await call(pa, { castAll: pb, msgs: [soon('soon5'), { soon: false, m: 'now' }, soon('soon6')] });
    const seen = await eventually(() => call(pb, 'seen') as Promise<unknown[]>, (s) => s.length >= 8, 'eight casts seen');
    assert.deepEqual(seen, ['soon0', 'soon1', 'soon2', 'soon3', 'soon4', 'soon5', 'now', 'soon6'].map((m) => ({ cast: m })));
  } finally {
    await c.stop();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec } from 'nats';
import { serviceSettings } from '../../scripts/services.ts';

const sc = StringCodec();

test('nats - request/reply round trip through a real server', async () => {
  const nc = await connect({ servers: serviceSettings().natsUrl });
  try {
    const subject = `parley.smoke.${process.pid}.${Date.now()}`;
    const sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) throw err;
        msg.respond(sc.encode(`echo:${sc.decode(msg.data)}`));
      },
    });
    await nc.flush();
    const reply = await nc.request(subject, sc.encode('ping'), { timeout: 5000 });
    assert.equal(sc.decode(reply.data), 'echo:ping');
    sub.unsubscribe();
  } finally {
    await nc.close();
  }
});

test('nats - JetStream key/value put and get', async () => {
  const nc = await connect({ servers: serviceSettings().natsUrl });
  const bucket = `parley_smoke_${process.pid}_${Date.now()}`;
  try {
    const js = nc.jetstream();
    const kv = await js.views.kv(bucket, { history: 1 });
    const rev = await kv.put('node.a', sc.encode('up'));
    assert.ok(rev > 0);
    const entry = await kv.get('node.a');
    assert.ok(entry);
    assert.equal(sc.decode(entry.value), 'up');
    assert.equal(entry.revision, rev);
  } finally {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
    await nc.close();
  }
});

/**
 * PostgresPreKeyStore against the PreKeyStore contract, plus a dropped
 * connection in the middle of takes: the pool reconnects and no take is ever
 * half done (both keys of a bundle gone, or neither).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { serviceSettings } from '../../scripts/services.ts';
import { openPostgresStores } from '../../store/postgres/index.ts';
import { isStoreError } from '../../store/errors.ts';
import { prekeyContract } from './contracts/prekey-contract.ts';

const url = serviceSettings().pgUrl;
const schema = `parley_test_${randomBytes(6).toString('hex')}_pk`;
const admin = new pg.Client({ connectionString: url });

before(async () => {
  await admin.connect();
});
after(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

prekeyContract('PostgresPreKeyStore', async ({ graceMs }) => {
  const stores = await openPostgresStores({ url, schema, poolSize: 6, prekeyRetention: { graceMs } });
  return { prekeys: stores.prekeys, close: () => stores.close() };
});

test('PostgresPreKeyStore - connections killed between takes: the pool reconnects and no key is half-consumed', async () => {
  const stores = await openPostgresStores({ url, schema, poolSize: 3, applicationName: 'parley_pk_fault' });
  try {
    const device = { userId: randomUUID(), deviceId: 1 };
    const key = (id: number) => ({ id, publicKey: randomBytes(33) });
    const signed = (id: number) => ({ id, publicKey: randomBytes(33), signature: randomBytes(64) });
    const n = 40;
    await stores.prekeys.upload(device, {
      signedPreKey: signed(1), kyberLastResort: signed(2),
      oneTimePreKeys: Array.from({ length: n }, (_, i) => key(100 + i)),
      oneTimeKyberPreKeys: Array.from({ length: n }, (_, i) => signed(1000 + i)),
    }, Date.now());
    const takenEc = new Set<number>();
    let failures = 0;
    for (let round = 0; round < n / 2; round++) {
      if (round % 4 === 1) {
        // Kill every pooled connection of this store under its feet.
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'parley_pk_fault' AND pid <> pg_backend_pid()`);
      }
      try {
        const t = await stores.prekeys.takeBundleKeys(device);
        assert.ok(t?.oneTimePreKey);
        assert.equal(t.kyberLastResort, false);
        assert.ok(!takenEc.has(t.oneTimePreKey.id), 'a key is never handed out twice');
        takenEc.add(t.oneTimePreKey.id);
      } catch (err) {
        // A take cut by the kill fails cleanly (retryable) — it is not retried blindly.
        assert.ok(isStoreError(err, 'PARLEY_ERR_STORE_UNAVAILABLE'), String(err));
        failures++;
      }
    }
    const left = await stores.prekeys.counts(device);
    assert.equal(left.ec, left.kyber, 'EC and Kyber one-time keys always leave together');
    assert.ok(left.ec <= n - takenEc.size, 'what was handed out is gone');
    assert.ok(takenEc.size >= n / 2 - failures);
  } finally {
    await stores.close();
  }
});

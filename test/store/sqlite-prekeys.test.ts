/** SqlitePreKeyStore against the PreKeyStore contract, on a file and in memory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import { prekeyContract } from './contracts/prekey-contract.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-sqlite-prekeys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

prekeyContract('SqlitePreKeyStore (file)', async ({ graceMs }) => {
  const stores = await openEmbeddedStores({ path: path.join(dir, `prekeys-${++seq}.db`), prekeyRetention: { graceMs } });
  return { prekeys: stores.prekeys, close: () => stores.close() };
});

prekeyContract('SqlitePreKeyStore (:memory:)', async ({ graceMs }) => {
  const stores = await openEmbeddedStores({ path: ':memory:', prekeyRetention: { graceMs } });
  return { prekeys: stores.prekeys, close: () => stores.close() };
});

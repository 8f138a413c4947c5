/** SqliteAccountStore against the AccountStore contract, on a file and in memory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import { accountContract } from './contracts/account-contract.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-sqlite-accounts-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

accountContract('SqliteAccountStore (file)', async () => {
  const stores = await openEmbeddedStores({ path: path.join(dir, `accounts-${++seq}.db`) });
  return { accounts: stores.accounts, close: () => stores.close() };
});

accountContract('SqliteAccountStore (:memory:)', async () => {
  const stores = await openEmbeddedStores({ path: ':memory:' });
  return { accounts: stores.accounts, close: () => stores.close() };
});

/** Public surface of the embedded (SQLite) adapters. */
export { openEmbeddedStores, DEFAULT_EMBEDDED_STORE_OPTIONS, type EmbeddedStoreOptions, type EmbeddedStores } from './open.ts';
export { SqliteAccountStore } from './sqlite-account-store.ts';
export { SqliteInboxStore } from './sqlite-inbox-store.ts';
export { SqlitePreKeyStore } from './sqlite-prekey-store.ts';
export { EMBEDDED_MIGRATIONS, migrate, type Migration } from './migrations.ts';

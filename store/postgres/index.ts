/** Public surface of the PostgreSQL adapters. */
export { openPostgresStores, DEFAULT_POSTGRES_STORE_OPTIONS, type PostgresStoreOptions, type PostgresStores } from './open.ts';
export { PostgresAccountStore } from './postgres-account-store.ts';
export { PostgresPreKeyStore } from './postgres-prekey-store.ts';
export { migratePostgres, migrateSchema, POSTGRES_MIGRATIONS, DEFAULT_POSTGRES_SCHEMA, type PgMigration } from './migrations.ts';

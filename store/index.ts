/** Public surface of store/: the ports, their errors, and one adapter per backend. */
export * from './types.ts';
export { StoreError, isStoreError, type StoreErrorCode } from './errors.ts';
export { openEmbeddedStores, DEFAULT_EMBEDDED_STORE_OPTIONS, type EmbeddedStoreOptions, type EmbeddedStores } from './embedded/index.ts';
export { MemoryPresenceStore, type MemoryPresenceOptions } from './embedded/memory-presence-store.ts';
export { openPostgresStores, migratePostgres, DEFAULT_POSTGRES_STORE_OPTIONS, type PostgresStoreOptions, type PostgresStores } from './postgres/index.ts';
export {
  openCassandraInbox,
  migrateCassandra,
  DEFAULT_CASSANDRA_INBOX_OPTIONS,
  type CassandraInboxOptions,
  type CassandraInbox,
  type CassandraConsistency,
  type CassandraReplication,
} from './cassandra/index.ts';
export { openRedisPresence, DEFAULT_REDIS_PRESENCE_OPTIONS, type RedisPresenceOptions, type RedisPresence } from './redis/index.ts';

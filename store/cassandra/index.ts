/** Public surface of the Cassandra adapters. */
export { openCassandraInbox, DEFAULT_CASSANDRA_INBOX_OPTIONS, type CassandraInboxOptions, type CassandraInbox } from './open.ts';
export { CassandraInboxStore, DEFAULT_CASSANDRA_INBOX_SETTINGS, type CassandraConsistency, type CassandraInboxSettings } from './cassandra-inbox-store.ts';
export { migrateCassandra, migrateKeyspace, CASSANDRA_MIGRATIONS, DEFAULT_CASSANDRA_REPLICATION, type CassandraReplication, type CqlMigration } from './migrations.ts';
export { DEFAULT_WRITE_BATCH_LIMITS, type WriteBatchLimits } from './write-coalescer.ts';

/**
 * A fresh PostgreSQL schema and Cassandra keyspace for one test, on the
 * suite's real services, and their removal.
 */
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';
import pg from 'pg';
import { serviceSettings } from '../../scripts/services.ts';
import { cassandraSettings } from '../../scripts/cassandra.ts';

export interface FreshBackends {
  readonly schema: string;
  readonly keyspace: string;
  /** Drops the schema and the keyspace (idempotent). */
  drop(): Promise<void>;
}

/** Names a schema and a keyspace `<prefix>_<random>`; nothing is created until a store migrates them. */
export function freshBackends(prefix: string): FreshBackends {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  return {
    schema: name,
    keyspace: name,
    async drop() {
      const admin = new pg.Client({ connectionString: serviceSettings().pgUrl });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await admin.end();
      const cass = cassandraSettings();
      const c = new cassandra.Client({ contactPoints: [cass.contactPoint], localDataCenter: cass.localDataCenter });
      await c.execute(`DROP KEYSPACE IF EXISTS ${name}`);
      await c.shutdown();
    },
  };
}

/**
 * "Does CQL answer?" — asked the way a client would, through cassandra-driver, with
 * `SELECT release_version FROM system.local`. An open port alone is not enough: the
 * node accepts connections a moment before its schema is ready to query.
 */
import cassandra from 'cassandra-driver';
import type { CassandraSettings } from './settings.ts';

const PROBE_CONNECT_TIMEOUT_MS = 2_000;
const PROBE_READ_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 500;

/** Returns the node's release_version, or throws why CQL did not answer. */
export async function probeCql(settings: Pick<CassandraSettings, 'contactPoint' | 'localDataCenter'>): Promise<string> {
  const client = new cassandra.Client({
    contactPoints: [settings.contactPoint],
    localDataCenter: settings.localDataCenter,
    socketOptions: { connectTimeout: PROBE_CONNECT_TIMEOUT_MS, readTimeout: PROBE_READ_TIMEOUT_MS },
  });
  try {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    const version: unknown = rs.first()?.get('release_version');
    if (typeof version !== 'string') throw new Error('system.local has no release_version');
    return version;
  } finally {
    await client.shutdown().catch(() => {
      // Shutting down a client that never connected can fail; the probe result stands.
    });
  }
}

/** Probes once; `undefined` when nothing answers. */
export async function cqlVersionIfUp(settings: Pick<CassandraSettings, 'contactPoint' | 'localDataCenter'>): Promise<string | undefined> {
  try {
    return await probeCql(settings);
  } catch {
    return undefined;
  }
}

export interface WaitForCqlOptions {
  readonly timeoutMs: number;
  /** Checked before every probe; a string stops the wait with that reason (e.g. "JVM exited with 1"). */
  readonly abortReason: () => string | undefined;
}

/** Polls until CQL answers; returns release_version. */
export async function waitForCql(
  settings: Pick<CassandraSettings, 'contactPoint' | 'localDataCenter'>,
  opts: WaitForCqlOptions,
): Promise<string> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = 'no probe yet';
  for (;;) {
    const aborted = opts.abortReason();
    if (aborted !== undefined) throw new Error(aborted);
    try {
      return await probeCql(settings);
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`CQL on ${settings.contactPoint} did not answer within ${opts.timeoutMs} ms; last probe: ${lastError}`);
    }
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}

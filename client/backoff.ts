/**
 * Reconnect delays: exponential backoff with full jitter (AWS architecture
 * blog's "full jitter"), so a node restart does not bring every client back
 * in the same millisecond.
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** First delay's upper bound. @default 100 */
  readonly initialMs: number;
  /** Largest delay. @default 5000 */
  readonly maxMs: number;
  /** Growth per attempt. @default 2 */
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5000, factor: 2 };

/** Delay before reconnect attempt `attempt` (0-based); `random` in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: number = Math.random()): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * options.factor ** Math.min(attempt, 30));
  return Math.floor(ceiling * random);
}

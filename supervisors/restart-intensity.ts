/**
 * Restart intensity, as OTP's `add_restart/3`: the restart times of the current
 * window, newest first, on a monotonic clock in seconds. A supervisor calls
 * `addRestart` before each restart and gives up when `intensityExceeded`.
 * Pure: tested without timers.
 */

/**
 * Puts `now` in front of the restarts still inside the window
 * `[now - periodS, now]` (inclusive, as OTP's `R >= Threshold`). `restarts` is
 * newest first; the result is too. `limit` caps the list: a supervisor passes
 * `intensity + 1`, the most `intensityExceeded` ever needs, so a restart costs
 * O(intensity) at worst, not O(restarts in the window).
 */
export function addRestart(restarts: readonly number[], now: number, periodS: number, limit = Infinity): number[] {
  const threshold = now - periodS;
  const kept: number[] = [now];
  for (const r of restarts) {
    if (r < threshold || kept.length >= limit) break;
    kept.push(r);
  }
  return kept;
}

/** More restarts in the window than `intensity` allows: the supervisor must give up. */
export function intensityExceeded(restarts: readonly number[], intensity: number): boolean {
  return restarts.length > intensity;
}

/** Small helpers for the short lists a session keeps at message rate. */
/**
 * Removes the first `v` from `list` (in place; nothing if absent). For the
 * small lists that change at message rate, where a `Map` or `Set` would
 * leave a chain of tables behind (see SessionState.delivered).
 */
export function removeOne<T>(list: T[], v: T): void {
  const i = list.indexOf(v);
  if (i === 0) list.shift();
  else if (i > 0) list.splice(i, 1);
}

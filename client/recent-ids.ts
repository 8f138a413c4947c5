/**
 * A bounded set of recently seen ids (insertion-ordered Map as an LRU): the
 * SDK drops a redelivered message it already handed to the app.
 */
export class RecentIds {
  private readonly ids = new Map<string, true>();
  constructor(private readonly capacity: number) {}

  /** Adds `id`; false when it was already present. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.keys().next().value!);
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}

/**
 * An in-process message bus for deterministic multi-node tests: several
 * ActorSystems in one JS process, each with its own endpoint. Delivery is
 * asynchronous (one microtask-ordered queue for the whole bus), FIFO per
 * (publisher, subject) as the `Transport` contract requires. `disconnect()` on an
 * endpoint cuts it off both ways, which is how a test crashes or partitions a node.
 */
import type { MessageHandler, Transport } from './transport.ts';

/** The shared bus. Create one per test cluster. */
export class InProcessBus {
  private readonly subscribers = new Map<string, Set<{ endpoint: InProcessEndpoint; handler: MessageHandler }>>();
  private readonly queue: (() => void)[] = [];
  private draining = false;

  /** A new endpoint (one per node). */
  endpoint(): InProcessEndpoint {
    return new InProcessEndpoint(this);
  }

  /** @internal */
  add(subject: string, endpoint: InProcessEndpoint, handler: MessageHandler): () => void {
    let set = this.subscribers.get(subject);
    if (set === undefined) this.subscribers.set(subject, (set = new Set()));
    const entry = { endpoint, handler };
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0) this.subscribers.delete(subject);
    };
  }

  /** @internal */
  publish(from: InProcessEndpoint, subject: string, data: Uint8Array): void {
    const set = this.subscribers.get(subject);
    if (set === undefined) return;
    for (const s of set) {
      // Copy: a receiver must never share the sender's buffer (as over a network).
      const copy = data.slice();
      this.queue.push(() => {
        if (from.connected && s.endpoint.connected) s.handler(copy);
      });
    }
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    // One macrotask per batch, so timers and actor schedulers interleave as over a network.
    const batch = this.queue.splice(0, this.queue.length);
    for (const run of batch) run();
    if (this.queue.length > 0) setImmediate(() => this.drain());
    else this.draining = false;
  }
}

/** One node's endpoint on an `InProcessBus`. */
export class InProcessEndpoint implements Transport {
  /** False after `disconnect()`: nothing leaves or reaches this endpoint. */
  connected = true;
  constructor(private readonly bus: InProcessBus) {}

  publish(subject: string, data: Uint8Array): void {
    if (this.connected) this.bus.publish(this, subject, data);
  }

  subscribe(subject: string, onMessage: MessageHandler): () => void {
    return this.bus.add(subject, this, onMessage);
  }

  flush(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Cuts this endpoint off (a crash or partition, as seen by the others). */
  disconnect(): void {
    this.connected = false;
  }

  /** Heals the partition. */
  reconnect(): void {
    this.connected = true;
  }
}

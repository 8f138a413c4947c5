/**
 * The transport contract: the only thing the cluster needs from a network.
 * Three methods, as socket.io's ClusterAdapter leaves two to its transports:
 * `NatsTransport` (production) and `InProcessBus` endpoints (tests) implement it.
 *
 * Guarantee required of an implementation: messages one endpoint publishes to
 * one subject reach each subscriber in publish order (NATS keeps order per
 * publisher connection and subject). Delivery is at most once; a message to a
 * subject nobody listens to is dropped. Handlers are never called synchronously
 * from `publish`.
 */

/** Called with each message's bytes. */
export type MessageHandler = (data: Uint8Array) => void;

/** A node's connection to the cluster's message network. */
export interface Transport {
  /** Fire-and-forget publish; never throws for an unreachable peer. */
  publish(subject: string, data: Uint8Array): void;
  /** Subscribes; returns the unsubscribe function. */
  subscribe(subject: string, onMessage: MessageHandler): () => void;
  /** Resolves once everything published so far has left this node (reached the server). */
  flush(): Promise<void>;
}

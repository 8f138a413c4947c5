/**
 * Public surface of `cluster/`: distribution of the supervisors' actors over
 * NATS (or an in-process bus in tests). See README.md beside this file.
 */
export type { Transport, MessageHandler } from './transport.ts';
export { InProcessBus, InProcessEndpoint } from './in-process-bus.ts';
export { NatsTransport, connectNats, DEFAULT_NATS_OPTIONS } from './nats-transport.ts';
export type { SharedStore, StoreEntry } from './shared-store.ts';
export { MemoryStore, MemoryStoreClient } from './shared-store.ts';
export { JetStreamStore, type JetStreamStoreOptions } from './jetstream-store.ts';
export { Membership, DEFAULT_MEMBERSHIP, type MembershipOptions, type MembershipEvent, type DownCause } from './membership.ts';
export { NodeRouter, type RpcHandler } from './router.ts';
export { ClusterRegistry, type ClaimResult, type ClaimOptions, type NameLost } from './cluster-registry.ts';
export { Placement, type PlacementSpec, type EnsureOptions, type PlacementEvent } from './placement.ts';
export { rendezvousOwner, hash32 } from './rendezvous.ts';
export { ClusterNode, startClusterNode, type ClusterNodeOptions } from './node.ts';
export { ClusterError, CLUSTER_ERROR_CODES, type ClusterErrorCode } from './errors.ts';
export { ENVELOPE_VERSION, NODE_NAME } from './envelope.ts';

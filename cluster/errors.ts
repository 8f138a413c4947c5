/**
 * Errors the cluster layer raises, each with a stable `code` (none reaches the
 * wire). Calls across nodes fail with the supervisors' `CallError`
 * (`PARLEY_ERR_CALL_EXIT` with `callReason: 'noconnection'` when the node is down).
 */

/** Stable codes of `ClusterError`. */
export const CLUSTER_ERROR_CODES = [
  'PARLEY_ERR_BAD_NODE_NAME',
  'PARLEY_ERR_NODE_DOWN',
  'PARLEY_ERR_RPC_TIMEOUT',
  'PARLEY_ERR_RPC_FAILED',
  'PARLEY_ERR_PLACEMENT_TIMEOUT',
  'PARLEY_ERR_FENCED',
  'PARLEY_ERR_STORE',
] as const;

/** One of `CLUSTER_ERROR_CODES`. */
export type ClusterErrorCode = (typeof CLUSTER_ERROR_CODES)[number];

/** A cluster operation failed; `code` is stable. */
export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  constructor(code: ClusterErrorCode, message: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
  }
}
